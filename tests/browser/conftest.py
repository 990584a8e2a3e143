"""Real-browser fixtures: the dashboard as a process against the test stack, Debian's Chromium driven by
Playwright, and a screenshot under test-output/ for every failing browser test."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboard.session import SIGN_IN_PATH
from gradeflow.launch.embedded import free_port
from tests.conftest import Role, Stack, answers, wait_for

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "screenshots"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# A page's first run in a fresh dashboard process imports pandas, Altair and the editor: on a busy 2-core CI
# machine that alone can take longer than Playwright's 5 s default
expect.set_options(timeout=15_000)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def dashboard_url(stack: Stack) -> str:
    # The stack's own dashboard port: the API sends an LMS launch's browser there
    port = int(stack.env.get("GRADEFLOW_DASHBOARD_PORT") or free_port())
    env = {**stack.env, "GRADEFLOW_API_URL": stack.api_url}
    role = Role(
        [sys.executable, "-m", "gradeflow", "dashboard", "--port", str(port)],
        env,
        dashboard_log(stack),
    )
    role.start()
    url = f"http://127.0.0.1:{port}"

    try:
        wait_for(
            lambda: answers(f"{url}/_stcore/health"), 60, "the dashboard to start", interval=0.2
        )
        yield url
    finally:
        role.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def dashboard_log(stack: Stack) -> Path:
    return stack.home / "logs" / "dashboard.log"


@pytest.fixture
def new_page(browser, request, stack: Stack, dashboard_url: str):
    """Pages opened by a test; a failing test leaves a screenshot of each under test-output/screenshots/, and an
    exception in the dashboard's own code fails the test even when the page looked fine."""
    pages = []
    log = dashboard_log(stack)
    log_start = log.stat().st_size if log.exists() else 0

    def open_page():
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(30_000)
        page = context.new_page()
        pages.append(page)
        return page

    yield open_page
    failed = any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    for number, page in enumerate(pages):
        if failed:
            OUTPUT.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUTPUT / f"{request.node.name}-{number}.png"), full_page=True)
        page.context.close()
    with log.open(errors="replace") as f:
        f.seek(log_start)
        crashes = f.read()
    assert "Uncaught app execution" not in crashes, (
        f"the dashboard raised (see {log}):\n{crashes[-3000:]}"
    )
    # A clean log: no traceback, no warning (a deprecated call, a table Arrow cannot convert)
    noisy = [
        line
        for line in crashes.splitlines()
        if re.search(r"Traceback|Warning|WARNING|deprecat", line, re.IGNORECASE)
    ]
    assert not noisy, f"the dashboard's log has warnings (see {log}):\n" + "\n".join(noisy[:20])


def sign_in(page, url: str, token: str) -> None:
    """Through the sign-in form, as a person does: it sets the dashboard's cookie and opens the app."""
    page.goto(f"{url}/{SIGN_IN_PATH}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").wait_for()


def save_readme_screenshot(page, name: str) -> None:
    """The README's picture of a page: under test-output/readme/, or docs/screenshots/ with `make screenshots`."""
    folder = (
        SCREENSHOTS
        if os.environ.get("GRADEFLOW_README_SCREENSHOTS") == "1"
        else ROOT / "test-output" / "readme"
    )
    folder.mkdir(parents=True, exist_ok=True)
    # Bars drawn at their final width
    page.screenshot(path=str(folder / f"{name}.png"), animations="disabled")
