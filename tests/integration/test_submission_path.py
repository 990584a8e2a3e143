"""The submission path end to end through HTTP against the real stack (issue #2, acceptance 2-5)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.routes.ops.history import timeline
from tests.conftest import Stack, run_async, wait_for

pytestmark = pytest.mark.integration

WRONG_HELLO = "def hello():\n    return 'Hi'\n"
RIGHT_HELLO = "def hello():\n    return 'Hello'\n"
HELLO_ID = 1


def unique(code: str) -> str:
    """The same program with a unique comment, so the result cache cannot answer it."""
    return f"# {uuid.uuid4()}\n{code}"


def temporal(stack: Stack, fn):
    async def run():
        client = await Client.connect(stack.temporal_address)
        return await fn(client)

    return run_async(run)


def submit(stack: Stack, token: str, code: str, assignment_id: int = HELLO_ID):
    with stack.client(token) as c:
        return c.post(f"/assignments/{assignment_id}/submissions", json={"code": code})


def test_wrong_then_right_hello_earns_points_and_moves_on(stack: Stack):
    token = stack.new_user()
    with stack.client(token) as c:
        assert c.get("/me/progress").json()["points"] == 0
        wrong = submit(stack, token, unique(WRONG_HELLO))
        assert wrong.status_code == 202, wrong.text
        assert wrong.json()["status"] == "queued"
        graded = stack.wait_graded(token, wrong.json()["id"])
        assert graded["status"] == "graded"
        assert graded["passed"] is False
        assert graded["verdict"] == "wrong_answer"
        assert graded["score"] == 0
        [test] = graded["tests"]
        assert test["name"] == "TestHello.test_returns_hello"
        assert test["passed"] is False
        assert "'Hi' != 'Hello'" in test["message"]

        right = submit(stack, token, unique(RIGHT_HELLO))
        assert right.status_code == 202, right.text
        graded = stack.wait_graded(token, right.json()["id"])
        assert (graded["status"], graded["passed"], graded["verdict"]) == ("graded", True, "passed")
        assert graded["score"] == graded["max_score"] == 100
        assert graded["graded_at"] is not None

        progress = c.get("/me/progress").json()
        assert progress["points"] == 100
        assert progress["solved"] == [HELLO_ID]
        assert progress["next_assignment"]["title"] == "Hello world"
        history = c.get("/me/submissions", params={"assignment_id": HELLO_ID}).json()
        assert [s["id"] for s in history] == [right.json()["id"], wrong.json()["id"]]


def test_identical_code_is_answered_from_cache_without_a_workflow(stack: Stack):
    code = unique(RIGHT_HELLO)
    first_token, second_token = stack.new_user(), stack.new_user()
    first = submit(stack, first_token, code)
    assert first.status_code == 202
    stack.wait_graded(first_token, first.json()["id"])

    for token in (first_token, second_token):
        again = submit(stack, token, code)
        assert again.status_code == 201, again.text
        body = again.json()
        assert body["cached"] is False, (
            "a student is never told their result came from someone else's"
        )
        with stack.client(stack.tokens["ada"]) as staff:
            assert staff.get(f"/submissions/{body['id']}").json()["cached"] is True
        assert (body["status"], body["passed"], body["verdict"], body["score"]) == (
            "graded",
            True,
            "passed",
            100,
        )
        assert body["tests"] == [
            {
                "name": "TestHello.test_returns_hello",
                "passed": True,
                "message": "",
                "points": 1,
                "hidden": False,
            }
        ]
        assert body["workflow_id"] is None

        async def no_workflow(client: Client, sub_id=body["id"]):
            with pytest.raises(RPCError) as err:
                await client.get_workflow_handle(f"grade-{sub_id}").describe()
            assert err.value.status == RPCStatusCode.NOT_FOUND
            count = await client.count_workflows(f"WorkflowId = 'grade-{sub_id}'")
            return count.count

        assert temporal(stack, no_workflow) == 0

    async def original_listed(client: Client):
        return [
            w.id async for w in client.list_workflows(f"WorkflowId = 'grade-{first.json()['id']}'")
        ]

    assert wait_for(
        lambda: temporal(stack, original_listed), 30, "the graded workflow in Temporal's list"
    ) == [f"grade-{first.json()['id']}"]


def test_the_result_cache_survives_redis_forgetting_everything(stack: Stack):
    code = unique(RIGHT_HELLO)
    token = stack.new_user()
    first = submit(stack, token, code)
    stack.wait_graded(token, first.json()["id"])
    import redis

    r = redis.Redis.from_url(stack.env["GRADEFLOW_REDIS_URL"])
    # Every cached status, the first one's included
    assert r.delete(*r.keys("gradeflow:submission:*")) >= 1
    again = submit(stack, stack.new_user(), code)
    assert again.status_code == 201
    assert again.json()["passed"] is True
    with stack.client(stack.tokens["ada"]) as staff:
        assert staff.get(f"/submissions/{again.json()['id']}").json()["cached"] is True


def test_second_submission_while_pending_is_409_naming_the_pending_one(stack: Stack):
    token = stack.new_user()
    slow = unique("import time\ntime.sleep(1.5)\n" + RIGHT_HELLO)
    first = submit(stack, token, slow)
    assert first.status_code == 202
    second = submit(stack, token, unique(WRONG_HELLO))
    assert second.status_code == 409
    body = second.json()
    assert body["pending_submission_id"] == first.json()["id"]
    assert first.json()["id"] in body["detail"] and "Wait for its result" in body["detail"]
    stack.wait_graded(token, first.json()["id"])
    third = submit(stack, token, unique(WRONG_HELLO))
    assert third.status_code == 202, "a finished submission must free the slot"
    stack.wait_graded(token, third.json()["id"])


def test_workflow_history_shows_grading_and_recording(stack: Stack):
    token = stack.new_user()
    sub = submit(stack, token, unique(RIGHT_HELLO)).json()
    stack.wait_graded(token, sub["id"])

    async def history(client: Client):
        handle = client.get_workflow_handle(f"grade-{sub['id']}")
        # The row is graded once recording commits; the workflow completes a moment later.
        result = await asyncio.wait_for(handle.result(), 30)
        assert (result["status"], result["verdict"]) == ("graded", "passed")
        desc = await handle.describe()
        events = [e async for e in handle.fetch_history_events()]
        return desc, timeline(events), events

    desc, rows, events = temporal(stack, history)
    assert desc.workflow_type == "GradeSubmission"
    assert desc.status.name == "COMPLETED"
    # Both steps are local activities: one workflow task, no activity task, each step a marker in the history.
    steps = [(r["activity"], r["attempt"]) for r in rows if r["type"] == "local_activity"]
    assert steps == [("grade_submission", 1), ("record_grading", 1)]
    assert [r["duration_ms"] >= 0 for r in rows if r.get("activity") == "grade_submission"] == [
        True
    ]
    assert sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in events) == 1
    assert not any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in events)
    attrs = {k.name: v for k, v in desc.typed_search_attributes}
    assert attrs["GradeflowAssignment"] == str(HELLO_ID)
    assert attrs["GradeflowCohort"] == "demo"
    assert attrs["GradeflowUser"] == str(sub["user_id"])


def test_worker_killed_mid_grading_is_retried_by_a_new_worker_and_graded_once(stack: Stack):
    token = stack.new_user()
    slow = unique("import time\ntime.sleep(3)\n" + RIGHT_HELLO)
    sub = submit(stack, token, slow).json()
    with stack.client(token) as c:
        wait_for(
            lambda: c.get(f"/submissions/{sub['id']}").json()["status"] == "grading",
            30,
            "the submission to start grading",
        )
    stack.worker.kill()
    stack.worker.start()
    graded = stack.wait_graded(token, sub["id"], timeout=120)
    assert (graded["status"], graded["passed"]) == ("graded", True)
    runs = stack.sql(
        "SELECT attempt FROM grading_runs WHERE submission_id = :id", id=uuid.UUID(sub["id"])
    )
    assert len(runs) == 1

    # The dead worker's workflow task timed out and the new worker graded the submission: the history says so.
    async def history(client: Client):
        return timeline(
            [
                e
                async for e in client.get_workflow_handle(
                    f"grade-{sub['id']}"
                ).fetch_history_events()
            ]
        )

    types = [r["type"] for r in temporal(stack, history)]
    assert "workflow_task_timed_out" in types
    assert types.index("workflow_task_timed_out") < types.index("local_activity")


def test_flushing_redis_after_accepting_loses_nothing(stack: Stack):
    import redis

    tokens = [stack.new_user() for _ in range(5)]
    ids = []
    # With no worker reading the intake stream, the accepted submissions exist in PostgreSQL and as stream
    # messages only; the flush destroys every message.
    stack.worker.stop()
    try:
        for token in tokens:
            response = submit(stack, token, unique(RIGHT_HELLO))
            assert response.status_code == 202
            ids.append(response.json()["id"])
        r = redis.Redis.from_url(stack.env["GRADEFLOW_REDIS_URL"], decode_responses=True)
        assert r.xlen("gradeflow:intake") >= 5
        r.flushall()
        assert r.xlen("gradeflow:intake") == 0
    finally:
        stack.worker.start()
    for token, sub_id in zip(tokens, ids, strict=True):
        graded = stack.wait_graded(token, sub_id, timeout=60)
        assert (graded["status"], graded["passed"]) == ("graded", True)
    rows = stack.sql(
        "SELECT count(*) FROM grading_runs WHERE submission_id = ANY(:ids)",
        ids=[uuid.UUID(i) for i in ids],
    )
    assert rows == [(5,)]
