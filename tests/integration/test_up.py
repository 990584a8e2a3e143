"""`gradeflow up` (what `make run` runs): the whole platform from nothing, usable, and stopped cleanly by Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import text

from gradeflow.launch.embedded import free_port
from tests.conftest import answers, wait_for
from tests.integration.test_submission_path import RIGHT_HELLO, unique

pytestmark = pytest.mark.integration


def up_env(tmp_path, **extra: str) -> tuple[dict[str, str], dict[str, int]]:
    """The environment for a `gradeflow up` of its own under tmp_path: free ports, no GRADEFLOW_ setting
    inherited from the test run, plus `extra` (GRADEFLOW_ names). Returns it with the ports."""
    ports = {name: free_port() for name in ("REDIS", "TEMPORAL", "TEMPORAL_UI", "API", "DASHBOARD")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    env |= {f"GRADEFLOW_{name}_PORT": str(port) for name, port in ports.items()}
    env |= {
        "GRADEFLOW_HOME": str(tmp_path / "home"),
        "GRADEFLOW_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        # Where `up` notes that it runs (the CLI finds it there from any directory): this test's own
        "XDG_STATE_HOME": str(tmp_path / "state"),
        **extra,
    }
    return env, ports


def start_up(env: dict[str, str], out) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gradeflow", "up"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def json_lines(path, **match) -> list[dict]:
    """The JSON log lines of a file whose fields include `match`."""
    found = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if all(record.get(k) == v for k, v in match.items()):
                found.append(record)
    return found


def test_gradeflow_up_runs_everything_and_ctrl_c_stops_it(tmp_path):
    env, ports = up_env(tmp_path, GRADEFLOW_LOG_FORMAT="json")
    metrics = env["GRADEFLOW_WORKER_METRICS_ADDRESS"]
    out = tmp_path / "up.out"
    api = f"http://127.0.0.1:{ports['API']}"
    proc = start_up(env, out)
    try:
        wait_for(
            lambda: "GradeFlow is running" in out.read_text(),
            180,
            "`gradeflow up` to print its banner",
        )
        banner = out.read_text()
        assert f"Dashboard:        http://127.0.0.1:{ports['DASHBOARD']}" in banner
        assert f"Worker metrics:   http://{metrics}/metrics" in banner
        token = re.search(r"^\s+alice\s+student\s+(\S+)$", banner, re.M).group(1)
        assert answers(f"{api}/api/v1/health")
        wait_for(
            lambda: answers(f"http://127.0.0.1:{ports['DASHBOARD']}/_stcore/health"),
            60,
            "the dashboard",
        )
        wait_for(
            lambda: answers(f"http://127.0.0.1:{ports['TEMPORAL_UI']}"), 60, "the Temporal Web UI"
        )
        assert answers(f"http://{metrics}/metrics")

        with httpx.Client(
            base_url=f"{api}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as c:
            sub = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)})
            assert sub.status_code == 202, sub.text
            graded = wait_for(
                lambda: (
                    (b := c.get(f"/submissions/{sub.json()['id']}").json())["status"] == "graded"
                    and b
                ),
                60,
                "the submission to be graded",
            )
        assert graded["passed"] is True
        # JSON logs carry the ids an operator searches by, in the API's and the worker's logs alike.
        logs = tmp_path / "home" / "logs"
        accepted = wait_for(
            lambda: json_lines(logs / "api.log", submission_id=graded["id"]), 30, "the API's log"
        )
        assert (
            accepted[0]["workflow_id"] == f"grade-{graded['id']}" and accepted[0]["level"] == "INFO"
        )
        finished = wait_for(
            lambda: json_lines(logs / "worker.log", submission_id=graded["id"]), 30, "the log"
        )
        assert (
            finished[0]["workflow_id"] == f"grade-{graded['id']}"
            and finished[0]["activity"] == "record_grading"
        )
        assert (finished[0]["verdict"], finished[0]["attempt"]) == ("passed", 1)

        # A second `up` from the same home (a second `make run` in the clone) says what runs and touches
        # nothing of it.
        runtime = (tmp_path / "home" / "runtime.json").read_text()
        second = subprocess.run(
            [sys.executable, "-m", "gradeflow", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert f"GradeFlow already runs from {tmp_path / 'home'} (pid {proc.pid}" in second.stderr
        assert f"dashboard http://127.0.0.1:{ports['DASHBOARD']}" in second.stderr
        assert "changed nothing" in second.stderr
        assert (tmp_path / "home" / "runtime.json").read_text() == runtime
        assert answers(f"{api}/api/v1/health")

        # The CLI finds the running platform from any directory, without GRADEFLOW_HOME: a student hands
        # in a file and the exit code says whether it passed.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "hello.py").write_text(unique(RIGHT_HELLO))
        (elsewhere / "wrong.py").write_text(unique("def hello():\n    return 'Bye'\n"))
        cli_env = {k: v for k, v in env.items() if k != "GRADEFLOW_HOME"} | {
            "GRADEFLOW_TOKEN": token
        }
        for name, code, words in (("hello.py", 0, "passed"), ("wrong.py", 1, "wrong_answer")):
            handed = subprocess.run(
                [sys.executable, "-m", "gradeflow", "submit", "hello", name, "--follow"],
                cwd=elsewhere,
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert handed.returncode == code, handed.stdout + handed.stderr
            assert handed.stdout.startswith(words), handed.stdout
        listed = subprocess.run(
            [sys.executable, "-m", "gradeflow", "cohorts", "list"],
            cwd=elsewhere,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0 and "demo" in listed.stdout, listed.stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    assert proc.wait(timeout=90) == 0, out.read_text()[-3000:]
    assert not (tmp_path / "state" / "gradeflow" / "running.json").exists()
    assert out.read_text().rstrip().endswith("stopped.")
    assert not answers(f"{api}/api/v1/health"), "the API outlived `gradeflow up`"
    assert not (tmp_path / "home" / "runtime.json").exists()


def test_gradeflow_up_refuses_a_busy_port_before_starting_anything(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
        env |= {
            "GRADEFLOW_HOME": str(tmp_path / "home"),
            "GRADEFLOW_API_PORT": str(port),
            "XDG_STATE_HOME": str(tmp_path / "state"),
        }
        result = subprocess.run(
            [sys.executable, "-m", "gradeflow", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert (
        f"port {port} for the API is in use: stop what uses it, or set GRADEFLOW_API_PORT (or "
        "--api-port)." in result.stderr
    )
    assert "starting PostgreSQL" not in result.stdout


def test_gradeflow_up_runs_several_dashboards_behind_haproxy_on_the_ports_its_options_name(
    tmp_path,
):
    """`--dashboards 2`: two dashboard processes behind HAProxy on the dashboard's address, a browser kept on its
    process by a cookie; the roles listen where `--api-port` and `--dashboard-port` say."""
    if shutil.which("haproxy") is None and not os.path.exists("/usr/sbin/haproxy"):
        if os.environ.get("CI") == "true":
            pytest.fail("HAProxy is missing (make test installs Debian's haproxy)")
        pytest.skip("HAProxy is not installed (apt-get install haproxy)")
    env, _ = up_env(tmp_path)
    env = {
        k: v for k, v in env.items() if k not in ("GRADEFLOW_API_PORT", "GRADEFLOW_DASHBOARD_PORT")
    }
    api_port, dashboard_port = free_port(), free_port()
    out = tmp_path / "up.out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gradeflow",
            "up",
            "--dashboards",
            "2",
            "--no-demo",
            "--api-port",
            str(api_port),
            "--dashboard-port",
            str(dashboard_port),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    dashboard = f"http://127.0.0.1:{dashboard_port}"
    try:
        wait_for(
            lambda: "GradeFlow is running" in out.read_text() or proc.poll() is not None,
            180,
            "`gradeflow up` to print its banner",
        )
        banner = out.read_text()
        assert f"Dashboard:        {dashboard} (2 processes behind HAProxy)" in banner, banner
        assert answers(f"http://127.0.0.1:{api_port}/api/v1/health")
        wait_for(lambda: answers(f"{dashboard}/_stcore/health"), 60, "the dashboards")
        page = httpx.get(dashboard, timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        sticky = page.cookies.get("gradeflow_dashboard")
        assert sticky in ("d1", "d2"), page.headers
        # A browser that comes back with its cookie stays on its process
        again = httpx.get(dashboard, cookies={"gradeflow_dashboard": sticky}, timeout=10)
        assert again.status_code == 200 and "gradeflow_dashboard" not in again.cookies
        # Both processes serve (HAProxy's health checks passed for each)
        for name in ("dashboard-1", "dashboard-2"):
            assert supervised_pid(tmp_path / "home", name) > 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=90) == 0, out.read_text()[-3000:]
    assert not answers(f"{dashboard}/_stcore/health"), "the proxy outlived `gradeflow up`"


def supervised_pid(home, name: str) -> int:
    """The pid supervisord reports for one of `up`'s processes (0 while it is not running)."""
    import xmlrpc.client

    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, f"unix://{home / 'supervisor' / 'supervisor.sock'}")
    info = xmlrpc.client.ServerProxy(
        "http://127.0.0.1", transport=transport
    ).supervisor.getProcessInfo(name)
    return info["pid"] if info["statename"] in ("STARTING", "RUNNING") else 0


def kill_supervised(home, name: str) -> int:
    """SIGKILL the process group of one of `up`'s processes, once it has one; returns its pid. (Never
    killpg(0): that is the test's own group.)"""
    pid = wait_for(lambda: supervised_pid(home, name), 30, f"the {name} to have a process")
    os.killpg(pid, signal.SIGKILL)
    return pid


def test_gradeflow_up_restarts_what_dies_and_loses_nothing(tmp_path):
    """kill -9 the worker mid-burst: restarted within seconds while the API keeps answering; kill -9 the Temporal
    dev server and Redis: restarted and told; every accepted submission graded exactly once."""
    import threading

    from gradeflow.accounts import add_user
    from gradeflow.db import in_transaction
    from tests.conftest import run_async

    env, ports = up_env(
        tmp_path, GRADEFLOW_RECONCILE_AFTER_SECONDS="2", GRADEFLOW_RECONCILE_INTERVAL_SECONDS="0.5"
    )
    home = tmp_path / "home"
    out = tmp_path / "up.out"
    api = f"http://127.0.0.1:{ports['API']}/api/v1"
    proc = start_up(env, out)
    unanswered: list[str] = []
    watching = threading.Event()
    try:
        wait_for(
            lambda: "GradeFlow is running" in out.read_text(),
            180,
            "`gradeflow up` to print its banner",
        )
        database_url = json.loads((home / "runtime.json").read_text())["database_url"]
        tokens = [
            run_async(
                lambda i=i: in_transaction(
                    database_url, lambda s: add_user(s, f"s{i}", "student", "demo")
                )
            )[1]
            for i in range(30)
        ]

        def keep_asking():  # the API must answer throughout, whatever else dies
            with httpx.Client(timeout=10) as c:
                while not watching.is_set():
                    try:
                        c.get(
                            f"{api}/assignments", headers={"Authorization": f"Bearer {tokens[0]}"}
                        )
                    except httpx.HTTPError as exc:
                        unanswered.append(repr(exc))
                    watching.wait(0.05)

        asker = threading.Thread(target=keep_asking)
        asker.start()

        def burst(some: list[str]) -> list[str]:
            ids = []
            for token in some:
                with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
                    r = c.post(
                        f"{api}/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)}
                    )
                    assert r.status_code == 202, r.text
                    ids.append(r.json()["id"])
            return ids

        ids = burst(tokens[:10])
        worker = kill_supervised(home, "worker")
        killed_at = time.monotonic()
        wait_for(
            lambda: supervised_pid(home, "worker") not in (0, worker),
            10,
            "the worker to be restarted",
        )
        assert time.monotonic() - killed_at < 5, "restarted within 5 s"
        ids += burst(tokens[10:20])

        for name in ("temporal", "redis"):
            pid = kill_supervised(home, name)
            wait_for(
                lambda name=name, pid=pid: supervised_pid(home, name) not in (0, pid),
                30,
                f"{name} to be restarted",
            )
        ids += burst(tokens[20:30])

        def graded(token: str, sub_id: str) -> bool:
            with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {token}"}) as c:
                return c.get(f"{api}/submissions/{sub_id}").json().get("status") == "graded"

        for token, sub_id in zip(tokens, ids, strict=True):
            wait_for(
                lambda token=token, sub_id=sub_id: graded(token, sub_id),
                120,
                f"submission {sub_id} to be graded",
            )

        async def runs_of(session):
            return (
                await session.execute(
                    text(
                        "SELECT submission_id, count(*) FROM grading_runs WHERE submission_id = ANY(CAST(:ids AS uuid[])) "
                        "GROUP BY submission_id"
                    ),
                    {"ids": ids},
                )
            ).all()

        runs = run_async(lambda: in_transaction(database_url, runs_of))
        assert sorted(n for _, n in runs) == [1] * 30, (
            "every accepted submission graded exactly once"
        )
        for name in ("worker", "Temporal dev server", "Redis"):
            # Told once the supervisor has seen it run for its start-up seconds: it may be serving already
            wait_for(
                lambda name=name: f"the {name} is running again (pid " in out.read_text(),
                60,
                f"`up` to tell that the {name} is running again",
            )
        told = out.read_text()
        for name in ("worker", "Temporal dev server", "Redis"):
            assert (
                f"the {name} exited unexpectedly (terminated by SIGKILL); restarting it" in told
            ), told[-3000:]
        assert told.count("running again") == 3, "only what was restarted is told"
    finally:
        watching.set()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=120) == 0, out.read_text()[-3000:]
    assert unanswered == [], f"the API stopped answering: {unanswered[:3]}"


def test_gradeflow_up_stops_and_says_why_when_a_role_keeps_failing(tmp_path):
    # The worker refuses to start, every time
    env, _ = up_env(tmp_path, GRADEFLOW_SANDBOX_MODE="no-such-mode")
    result = subprocess.run(
        [sys.executable, "-m", "gradeflow", "up"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert (
        "the worker could not be restarted" in result.stderr
        or "the worker could not start" in result.stderr
    ), result.stderr[-2000:]
    assert f"see {tmp_path / 'home' / 'logs' / 'worker.log'}" in result.stderr
    assert result.stdout.rstrip().endswith("stopped.")
