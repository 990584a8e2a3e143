"""The sandbox through the real grading path (API -> intake -> Temporal -> worker -> sandbox): every attack of
SANDBOX.md as a submission, I/O cases end to end, and the worker's refusal when isolation is missing."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
import redis

from tests.conftest import Stack
from tests.integration.test_submission_path import submit
from tests.sandbox.attacks import ATTACKS, Attack
from tests.sandbox.conftest import ADD_TESTS, CORRECT_ADD, FAST
from tests.sandbox.test_sandbox import ROOT, assert_nothing_outlived_the_run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def add_assignment(stack: Stack) -> int:
    with stack.client(stack.tokens["ada"]) as c:
        response = c.post(
            "/assignments",
            json={
                "title": "Add (sandbox attacks)",
                "slug": f"add-{uuid.uuid4().hex[:8]}",
                "order": 1000,
                "test_code": ADD_TESTS,
                "limits": {**FAST, "memory_mb": 256},
            },
        )
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_through_the_real_grading_path(stack: Stack, add_assignment: int, attack: Attack):
    worker_pid = stack.worker.proc.pid
    r = redis.Redis.from_url(stack.env["GRADEFLOW_REDIS_URL"])
    ctx = {
        "redis_port": r.connection_pool.connection_kwargs["port"],
        "postgres_port": 5432,
        "project_file": str(ROOT / "gradeflow" / "seed_course.py"),
        "tests_file": str(ROOT / "tests" / "conftest.py"),
        "secret": stack.database_url,
    }
    token = stack.new_user()
    code = f"# {uuid.uuid4()}\n" + attack.code.format(**ctx)
    response = submit(stack, token, code, assignment_id=add_assignment)
    assert response.status_code == 202, response.text
    graded = stack.wait_graded(token, response.json()["id"], timeout=90)
    assert graded["status"] == "graded"
    assert graded["passed"] is False and graded["verdict"] != "passed"
    assert graded["verdict"] in attack.verdicts, (graded["verdict"], graded["message"])
    assert graded["sandbox"] in ("forkserver", "fresh")
    attack.check(graded, ctx)
    assert r.get("gradeflow-pwned") is None, "the sandbox reached Redis"
    assert stack.worker.proc.poll() is None and stack.worker.proc.pid == worker_pid, (
        "the worker was taken down"
    )
    assert_nothing_outlived_the_run()

    correct = submit(stack, token, f"# {uuid.uuid4()}\n{CORRECT_ADD}", assignment_id=add_assignment)
    assert correct.status_code == 202
    after = stack.wait_graded(token, correct.json()["id"])
    assert (after["verdict"], after["score"]) == ("passed", after["max_score"])


def test_io_cases_end_to_end_through_the_api(stack: Stack):
    cases = [
        {"stdin": "2 3\n", "stdout": "5\n", "points": 1, "hidden": False},
        {"stdin": "40 2\n", "stdout": "42\n", "points": 3, "hidden": True},
    ]
    with stack.client(stack.tokens["ada"]) as c:
        created = c.post(
            "/assignments",
            json={
                "title": "Sum of two (stdin)",
                "slug": f"stdin-sum-{uuid.uuid4().hex[:8]}",
                "order": 1001,
                "io_cases": cases,
                "handout": "Read two integers, print their sum.",
            },
        )
        assert created.status_code == 201, created.text
        assignment = created.json()
        assert assignment["io_cases"] == cases
        assert c.post("/assignments", json={"title": "No tests at all"}).status_code == 422
    student = stack.new_user()
    with stack.client(student) as c:
        public = c.get(f"/assignments/{assignment['id']}").json()
    assert public["examples"] == [{"stdin": "2 3\n", "stdout": "5\n"}], "hidden cases stay hidden"
    assert "io_cases" not in public

    right = submit(
        stack, student, "a, b = map(int, input().split())\nprint(a + b)\n", assignment["id"]
    ).json()
    graded = stack.wait_graded(student, right["id"])
    assert (graded["verdict"], graded["score"]) == ("passed", 100)
    assert [(t["name"], t["passed"], t["points"], t["hidden"]) for t in graded["tests"]] == [
        ("io_case_1", True, 1, False),
        ("io_case_2", True, 3, True),
    ]

    half = submit(
        stack, student, "a, b = map(int, input().split())\nprint(5)\n", assignment["id"]
    ).json()
    graded = stack.wait_graded(student, half["id"])
    assert graded["verdict"] == "wrong_answer"
    assert graded["score"] == 25.0, "1 of 4 points"
    assert graded["tests"][1]["message"] == "hidden test"
    assert graded["stdout"] == "" or "42" not in graded["tests"][1]["message"]


def test_worker_refuses_to_grade_without_isolation(stack: Stack):
    # A second worker beside the stack's own: no metrics endpoint, so it cannot clash with the first one's port.
    env = {
        **stack.env,
        "GRADEFLOW_SANDBOX_SIMULATE_MISSING": "user namespace",
        "GRADEFLOW_WORKER_METRICS_ADDRESS": "",
    }
    result = subprocess.run(
        [sys.executable, "-m", "gradeflow", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "refuses to grade" in result.stderr
    assert "user namespace failed" in result.stderr
    assert "GRADEFLOW_UNSAFE_GRADING" in result.stderr


def test_unsafe_worker_announces_itself_and_marks_results(stack: Stack):
    from tests.conftest import Role

    env = {**stack.env, "GRADEFLOW_UNSAFE_GRADING": "1"}
    log_path = stack.home / "logs" / "worker-unsafe.log"
    stack.worker.stop()
    unsafe = Role([sys.executable, "-m", "gradeflow", "worker"], env, log_path)
    unsafe.start()
    try:
        token = stack.new_user()
        sub = submit(stack, token, f"# {uuid.uuid4()}\ndef hello():\n    return 'Hello'\n").json()
        graded = stack.wait_graded(token, sub["id"])
    finally:
        unsafe.stop()
        stack.worker.start()
    assert graded["sandbox"] == "unsafe"
    assert graded["message"].startswith("UNSAFE: graded WITHOUT isolation")
    assert "UNSAFE" in log_path.read_text()
