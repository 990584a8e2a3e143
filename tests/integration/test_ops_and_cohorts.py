"""Operator endpoints (workflows, history, problems, retry, terminate, metrics), cohort views and the
reference-solution check, against the real stack."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client

from tests.conftest import Stack, run_async, wait_for
from tests.integration.test_submission_path import RIGHT_HELLO, submit, unique
from workflows.config import GRADING_TASK_QUEUE
from workflows.grade_submission import GradeSubmission, GradeSubmissionInput

pytestmark = pytest.mark.integration
OPS = [
    ("GET", "/ops/workflows"),
    ("GET", "/ops/workflows/grade-x"),
    ("GET", "/ops/problems"),
    ("GET", "/ops/metrics"),
    ("POST", "/ops/workflows/grade-x/retry"),
    ("POST", "/ops/workflows/grade-x/terminate"),
]


@pytest.mark.parametrize("role", ["student", "instructor"])
def test_ops_endpoints_are_refused_to_students_and_instructors(stack: Stack, role: str):
    with stack.client(stack.new_user(role=role)) as c:
        for method, path in OPS:
            response = c.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 403, (method, path, response.status_code)
            assert "needs the operator role" in response.json()["detail"]


def test_operator_finds_a_grading_and_reads_its_history(stack: Stack):
    token = stack.new_user()
    sub = submit(stack, token, unique(RIGHT_HELLO)).json()
    stack.wait_graded(token, sub["id"])
    with stack.client(stack.tokens["otto"]) as ops:

        def listed():
            found = ops.get("/ops/workflows", params={"submission_id": sub["id"]}).json()
            return found if found and found[0]["status"] == "completed" else None

        [workflow] = wait_for(listed, 30, "the grading in Temporal's visibility")
        assert (
            workflow["workflow_id"] == f"grade-{sub['id']}"
            and workflow["type"] == "GradeSubmission"
        )
        assert workflow["search_attributes"]["GradeflowUser"] == str(sub["user_id"])
        assert workflow["temporal_ui"].endswith(
            f"/workflows/grade-{sub['id']}/{workflow['run_id']}/history"
        )
        by_user = ops.get("/ops/workflows", params={"user_id": sub["user_id"]}).json()
        assert f"grade-{sub['id']}" in [w["workflow_id"] for w in by_user]
        by_cohort = ops.get(
            "/ops/workflows", params={"cohort": "demo", "status": "completed", "limit": 500}
        ).json()
        assert f"grade-{sub['id']}" in [w["workflow_id"] for w in by_cohort]
        assert ops.get("/ops/workflows", params={"status": "exploded"}).status_code == 422

        history = ops.get(f"/ops/workflows/grade-{sub['id']}").json()
    types = [e["type"] for e in history["events"]]
    assert types[0] == "workflow_execution_started" and types[-1] == "workflow_execution_completed"
    # Gradings are local activities: each step is a row naming its activity, attempt and (for the grading) time.
    steps = [e for e in history["events"] if e["type"] == "local_activity"]
    assert [(e["activity"], e["attempt"]) for e in steps] == [
        ("grade_submission", 1),
        ("record_grading", 1),
    ]
    assert steps[0]["duration_ms"] >= 0
    assert history["pending_activities"] == []


def test_stuck_and_failed_work_can_be_terminated_and_retried(stack: Stack):
    token = stack.new_user()
    stack.worker.stop()
    try:
        sub = submit(stack, token, unique(RIGHT_HELLO)).json()
        workflow_id = f"grade-{sub['id']}"

        async def start_without_worker():
            client = await Client.connect(stack.temporal_address)
            await client.start_workflow(
                GradeSubmission.run,
                GradeSubmissionInput(sub["id"]),
                id=workflow_id,
                task_queue=GRADING_TASK_QUEUE,
            )

        run_async(start_without_worker)
        with stack.client(stack.tokens["otto"]) as ops:
            stuck = wait_for(
                lambda: [
                    w
                    for w in ops.get("/ops/problems", params={"stuck_after_seconds": 0}).json()[
                        "stuck_workflows"
                    ]
                    if w["workflow_id"] == workflow_id
                ],
                30,
                "the grading to show as stuck",
            )
            assert stuck[0]["status"] == "running"
            assert ops.post(f"/ops/workflows/{workflow_id}/retry").status_code == 409, (
                "running: terminate first"
            )
            terminated = ops.post(
                f"/ops/workflows/{workflow_id}/terminate", json={"reason": "test"}
            )
            assert terminated.status_code == 200 and terminated.json()["status"] == "terminated"
            failed = wait_for(
                lambda: [
                    w
                    for w in ops.get("/ops/problems").json()["failed_workflows"]
                    if w["workflow_id"] == workflow_id
                ],
                30,
                "the terminated grading in problems",
            )
            assert failed[0]["status"] == "terminated"
            history = ops.get(f"/ops/workflows/{workflow_id}").json()
            assert history["events"][-1]["failure"] == "terminated: test"
            retried = ops.post(f"/ops/workflows/{workflow_id}/retry")
            assert retried.status_code == 200 and retried.json()["status"] == "running"
            assert retried.json()["search_attributes"]["GradeflowUser"] == str(sub["user_id"])
            assert ops.post("/ops/workflows/regrade-x/retry").status_code == 422
    finally:
        stack.worker.start()
    graded = stack.wait_graded(token, sub["id"], timeout=60)
    assert graded["passed"] is True


def test_a_grading_that_ended_in_error_can_be_retried(stack: Stack):
    """Retries exhausted end the workflow normally with the submission in error (record_grading_failure); the operator
    retries it from the problems list and it is graded in a new run of the same workflow id."""
    from sqlalchemy import update

    from gradeflow.models import Submission

    token = stack.new_user()
    sub = submit(stack, token, unique(RIGHT_HELLO)).json()
    stack.wait_graded(token, sub["id"])
    with stack.client(stack.tokens["otto"]) as ops:
        refused = ops.post(f"/ops/workflows/grade-{sub['id']}/retry")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"Submission {sub['id']} was graded normally (passed, score 100); retry is "
        "for failed or stuck work. To grade it again anyway, add ?regrade=true."
    )
    stack.db(
        lambda s: s.execute(
            update(Submission)
            .where(Submission.id == uuid.UUID(sub["id"]))
            .values(status="error", error="sandbox host lost (simulated)")
        )
    )
    workflow_id = f"grade-{sub['id']}"
    with stack.client(stack.tokens["otto"]) as ops:
        in_error = [
            s for s in ops.get("/ops/problems").json()["submissions"] if s["id"] == sub["id"]
        ]
        assert (
            in_error
            and in_error[0]["workflow_id"] == workflow_id
            and in_error[0]["status"] == "error"
        )
        first_run = ops.get(f"/ops/workflows/{workflow_id}").json()["workflow"]
        assert first_run["status"] == "completed"
        retried = ops.post(f"/ops/workflows/{workflow_id}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["run_id"] != first_run["run_id"]
    graded = stack.wait_graded(token, sub["id"], timeout=60)
    assert (graded["status"], graded["passed"]) == ("graded", True)
    with stack.client(stack.tokens["otto"]) as ops:
        asked = ops.post(f"/ops/workflows/{workflow_id}/retry", params={"regrade": "true"})
    assert asked.status_code == 200, asked.text
    assert stack.wait_graded(token, sub["id"], timeout=60)["passed"] is True
    runs = stack.sql(
        "SELECT count(*) FROM grading_runs WHERE submission_id = CAST(:id AS uuid)", id=sub["id"]
    )
    assert runs == [(1,)], "a grading run is kept once per submission and batch"


def test_metrics_cover_the_last_hour(stack: Stack):
    token = stack.new_user()
    stack.wait_graded(token, submit(stack, token, unique(RIGHT_HELLO)).json()["id"])
    with stack.client(stack.tokens["otto"]) as ops:
        body = ops.get("/ops/metrics").json()
    assert body["minutes"] == 60 and len(body["series"]) == 60
    assert sum(m["graded"] for m in body["series"]) >= 1
    latest = [m for m in body["series"] if m["graded"]][-1]
    assert 0 <= latest["p50_seconds"] <= latest["p95_seconds"] < 60
    assert all(0 <= m["failure_rate"] <= 1 for m in body["series"])
    assert body["intake_stream_length"] is not None


def test_cohort_matrix_and_list(stack: Stack):
    student = stack.new_user()
    stack.wait_graded(student, submit(stack, student, unique(RIGHT_HELLO)).json()["id"])
    stack.wait_graded(
        student,
        submit(stack, student, "def hello():\n    return 'x'\n", assignment_id=2).json()["id"],
    )
    with stack.client(student) as c:
        me = c.get("/me").json()
        assert c.get("/cohorts").status_code == 403
    with stack.client(stack.tokens["ada"]) as c:
        assert "demo" in [x["slug"] for x in c.get("/cohorts").json()]
        matrix = c.get("/cohorts/demo/matrix").json()
        assert c.get("/cohorts/nope/matrix").status_code == 404
    row = next(s for s in matrix["students"] if s["name"] == me["name"])
    assert row["cells"]["1"]["state"] == "solved" and row["cells"]["1"]["best_score"] == 100
    assert row["cells"]["2"]["state"] == "attempted"
    assert "3" not in row["cells"], "not started"
    assert [a["title"] for a in matrix["assignments"][:3]] == ["Hello", "Hello world", "Sum"]


def test_reference_solution_is_checked_before_saving(stack: Stack):
    tests = (
        "import unittest\nfrom solution import triple\n\nclass T(unittest.TestCase):\n"
        "    def test_three(self):\n        self.assertEqual(triple(3), 9)\n"
    )
    with stack.client(stack.tokens["ada"]) as c:
        good = c.post(
            "/assignments/check",
            json={"reference_solution": "def triple(x):\n    return 3 * x\n", "test_code": tests},
        )
        bad = c.post(
            "/assignments/check",
            json={"reference_solution": "def triple(x):\n    return x\n", "test_code": tests},
        )
        empty = c.post("/assignments/check", json={"reference_solution": "x = 1"})
    assert good.status_code == 200 and (good.json()["verdict"], good.json()["passed"]) == (
        "passed",
        True,
    )
    assert bad.json()["verdict"] == "wrong_answer" and "3 != 9" in bad.json()["message"]
    assert (
        empty.status_code == 422 and "needs test_code, io_cases or both" in empty.json()["detail"]
    )
    with stack.client(stack.new_user()) as c:
        assert (
            c.post(
                "/assignments/check", json={"reference_solution": "x", "test_code": tests}
            ).status_code
            == 403
        )
