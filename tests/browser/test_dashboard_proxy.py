"""Several dashboard processes behind HAProxy (gradeflow/launch/proxy.py), as `gradeflow up --dashboards 2`
runs them: people are spread over the processes, each stays on theirs, and everything a page does (its
websocket, sign-in, the relayed events of a grading) works through the proxy."""

from __future__ import annotations

import os
import re
import sys
import uuid

import pytest
from playwright.sync_api import expect

from gradeflow.launch import proxy
from gradeflow.launch.embedded import free_port
from tests.browser.conftest import sign_in
from tests.browser.test_navigation import shows
from tests.conftest import Role, Stack, answers, wait_for
from tests.integration.test_submission_path import RIGHT_HELLO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def proxied_dashboard(stack: Stack, tmp_path_factory):
    if proxy.haproxy() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("HAProxy is missing (make test installs Debian's haproxy)")
        pytest.skip("HAProxy is not installed (apt-get install haproxy)")
    ports = [free_port(), free_port()]
    env = {**stack.env, "GRADEFLOW_API_URL": stack.api_url}
    logs = stack.home / "logs"
    roles = [
        Role(
            [sys.executable, "-m", "gradeflow", "dashboard", "--port", str(port)],
            env,
            logs / f"dashboard-proxied-{i}.log",
        )
        for i, port in enumerate(ports, 1)
    ]
    front = free_port()
    config = tmp_path_factory.mktemp("proxy") / "haproxy.cfg"
    config.write_text(proxy.config("127.0.0.1", front, ports))
    roles.append(Role(proxy.argv(config), env, logs / "dashboard-proxy.log"))
    url = f"http://127.0.0.1:{front}"
    try:
        for role in roles[:2]:
            role.start()
        for port in ports:
            wait_for(
                lambda port=port: answers(f"http://127.0.0.1:{port}/_stcore/health"),
                60,
                "a dashboard process to start",
                interval=0.2,
            )
        # HAProxy after both answer: its first health check of a process still starting marks that process down
        # until the next check, and every page opened meanwhile goes to the other one
        roles[2].start()
        wait_for(lambda: answers(f"{url}/_stcore/health"), 30, "HAProxy", interval=0.2)
        yield url, [r.log_path for r in roles[:2]]
    finally:
        for role in roles:
            role.stop()


def process_of(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "gradeflow_dashboard")


def test_two_students_on_two_processes_each_stays_on_theirs_and_sees_their_result(
    stack: Stack, proxied_dashboard, new_page
):
    url, logs = proxied_dashboard
    alice, bob = stack.new_user(), stack.new_user()
    with stack.client(alice) as c:
        hello = next(a for a in c.get("/assignments").json() if a["slug"] == "hello")

    first = new_page()
    sign_in(first, url, alice)
    second = new_page()  # a second person, while the first one's page is open
    sign_in(second, url, bob)
    assert {process_of(first), process_of(second)} == {"d1", "d2"}, (
        "HAProxy sent both open pages to one process"
    )

    where = process_of(first)
    first.goto(f"{url}/learn?assignment=hello")
    shows(first, hello)
    editor = first.frame_locator("iframe[title*='streamlit_ace']").first.locator(".ace_content")
    editor.click()
    first.keyboard.press("Control+A")
    code = f"# {uuid.uuid4()}\n{RIGHT_HELLO}"
    first.keyboard.insert_text(code)
    expect(first.get_by_text(re.compile(rf"^3 lines · {len(code)} characters"))).to_be_visible()
    first.get_by_role("button", name="Submit to “Hello”").click()
    # The verdict arrives through the proxy's relay of the grading's events
    expect(first.get_by_text(re.compile(r"Score 100 / 100"))).to_be_visible()

    first.reload()  # still on its process, and the page shows what it showed
    shows(first, hello)
    expect(first.get_by_text(re.compile(r"Score 100 / 100"))).to_be_visible()
    assert process_of(first) == where
    second.reload()
    expect(second.get_by_text("Signed in as")).to_be_visible()

    for log in logs:  # both processes served, and cleanly
        text = log.read_text(errors="replace")
        assert not re.search(r"Traceback|Warning|WARNING", text), f"{log}:\n{text[-2000:]}"
