"""`gradeflow up` (what `make run` runs): the whole platform from nothing, usable, and stopped cleanly by Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from gradeflow.embedded import free_port
from tests.conftest import wait_for
from tests.integration.test_submission_path import RIGHT_HELLO, unique

pytestmark = pytest.mark.integration


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


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
    ports = {name: free_port() for name in ("REDIS", "TEMPORAL", "TEMPORAL_UI", "API", "DASHBOARD")}
    metrics = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    env |= {f"GRADEFLOW_{name}_PORT": str(port) for name, port in ports.items()}
    env |= {"GRADEFLOW_HOME": str(tmp_path / "home"), "GRADEFLOW_WORKER_METRICS_ADDRESS": metrics,
            "GRADEFLOW_LOG_FORMAT": "json"}
    out = tmp_path / "up.out"
    api = f"http://127.0.0.1:{ports['API']}"
    proc = subprocess.Popen([sys.executable, "-m", "gradeflow", "up"], env=env, stdin=subprocess.DEVNULL,
                            stdout=out.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "GradeFlow is running" in out.read_text(), 180, "`gradeflow up` to print its banner")
        banner = out.read_text()
        assert f"Dashboard:        http://127.0.0.1:{ports['DASHBOARD']}" in banner
        assert f"Worker metrics:   http://{metrics}/metrics" in banner
        token = re.search(r"^\s+alice\s+student\s+(\S+)$", banner, re.M).group(1)
        assert answers(f"{api}/api/v1/health")
        wait_for(lambda: answers(f"http://127.0.0.1:{ports['DASHBOARD']}/_stcore/health"), 60, "the dashboard")
        wait_for(lambda: answers(f"http://127.0.0.1:{ports['TEMPORAL_UI']}"), 60, "the Temporal Web UI")
        assert answers(f"http://{metrics}/metrics")

        with httpx.Client(base_url=f"{api}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            sub = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)})
            assert sub.status_code == 202, sub.text
            graded = wait_for(lambda: (b := c.get(f"/submissions/{sub.json()['id']}").json())["status"] == "graded"
                              and b, 60, "the submission to be graded")
        assert graded["passed"] is True
        # JSON logs carry the ids an operator searches by, in the API's and the worker's logs alike.
        logs = tmp_path / "home" / "logs"
        accepted = wait_for(lambda: json_lines(logs / "api.log", submission_id=graded["id"]), 30, "the API's log")
        assert accepted[0]["workflow_id"] == f"grade-{graded['id']}" and accepted[0]["level"] == "INFO"
        finished = wait_for(lambda: json_lines(logs / "worker.log", submission_id=graded["id"]), 30, "the log")
        assert finished[0]["workflow_id"] == f"grade-{graded['id']}" and finished[0]["activity"] == "record_grading"
        assert (finished[0]["verdict"], finished[0]["attempt"]) == ("passed", 1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    assert proc.wait(timeout=90) == 0, out.read_text()[-3000:]
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
        env |= {"GRADEFLOW_HOME": str(tmp_path / "home"), "GRADEFLOW_API_PORT": str(port)}
        result = subprocess.run([sys.executable, "-m", "gradeflow", "up"], env=env, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 1
    assert f"port {port} for the API is in use: stop what uses it, or set GRADEFLOW_API_PORT." in result.stderr
    assert "starting PostgreSQL" not in result.stdout
