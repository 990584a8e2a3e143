"""Cohort regrades as batch workflows (issue #4) against the real stack."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from temporalio.client import Client

from gradeflow.launch.synthetic import DEMO_ANSWERS, Answer, synthetic_cohort
from gradeflow.models import Assignment
from tests.conftest import Stack, run_async, wait_for
from tests.integration.test_submission_path import submit, unique

pytestmark = pytest.mark.integration
FINAL = ("completed", "cancelled", "failed")


def cohort_with(
    stack: Stack, students: int, answers_by_slug: dict[str, list[Answer]]
) -> tuple[str, str, list]:
    """A synthetic cohort and an instructor who teaches it: (slug, instructor token, submission ids)."""
    slug = f"cohort-{uuid.uuid4().hex[:8]}"

    async def make(session):
        ids = dict((await session.execute(select(Assignment.slug, Assignment.id))).all())
        return await synthetic_cohort(
            session, slug, students, {ids[s]: a for s, a in answers_by_slug.items()}
        )

    submissions = stack.db(make)
    return slug, stack.new_user(role="instructor", cohort=slug), submissions


def start(stack: Stack, token: str, **body) -> dict:
    with stack.client(token) as c:
        response = c.post("/regrades", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def batch(stack: Stack, token: str, batch_id: str) -> dict:
    with stack.client(token) as c:
        return c.get(f"/regrades/{batch_id}").json()


def wait_final(stack: Stack, token: str, batch_id: str, timeout: float = 180) -> dict:
    return wait_for(
        lambda: (b := batch(stack, token, batch_id))["status"] in FINAL and b,
        timeout,
        f"regrade {batch_id} to finish",
        interval=0.2,
    )


def runs_of(stack: Stack, batch_id: str) -> list[tuple]:
    return stack.sql(
        "SELECT submission_id, workflow_id, run_id, attempt, started_at FROM grading_runs "
        "WHERE regrade_batch_id = :b",
        b=uuid.UUID(batch_id),
    )


def temporal(stack: Stack, fn):
    async def run():
        return await fn(await Client.connect(stack.temporal_address))

    return run_async(run)


def test_child_workflow_strategy_grades_each_submission_in_its_own_workflow(stack: Stack):
    slug, teacher, submissions = cohort_with(stack, 6, {"hello": DEMO_ANSWERS["hello"]})
    started = start(stack, teacher, cohort=slug, strategy="children", chunk_size=2)
    done = wait_final(stack, teacher, started["id"])
    assert (done["status"], done["done"], done["errors"]) == ("completed", 6, 0)
    runs = runs_of(stack, started["id"])
    assert sorted(r[0] for r in runs) == sorted(submissions)
    assert sorted(r[1] for r in runs) == sorted(
        f"{started['workflow_id']}-{s}" for s in submissions
    )


def test_small_pages_continue_as_new_and_grade_each_submission_once(stack: Stack):
    slug, teacher, submissions = cohort_with(stack, 12, {"hello": DEMO_ANSWERS["hello"]})
    started = start(stack, teacher, cohort=slug, page_size=2, chunk_size=2, pages_per_run=1)
    assert (
        started["status"] in ("queued", "running")
        and started["workflow_id"] == f"regrade-{started['id']}"
    )
    done = wait_final(stack, teacher, started["id"])
    assert (done["status"], done["total"], done["done"], done["errors"], done["changed"]) == (
        "completed",
        12,
        12,
        0,
        0,
    )
    runs = runs_of(stack, started["id"])
    assert sorted(r[0] for r in runs) == sorted(submissions), "every submission graded exactly once"
    assert all(r[1] == started["workflow_id"] for r in runs), "each grading_run names its workflow"
    assert len({r[2] for r in runs}) >= 3, "gradings come from at least three runs of the workflow"

    async def executions(client: Client):
        return [
            w.status.name
            async for w in client.list_workflows(f"WorkflowId = '{started['workflow_id']}'")
        ]

    statuses = wait_for(
        lambda: (s := temporal(stack, executions)) and "COMPLETED" in s and s,
        30,
        "the regrade's runs in Temporal's visibility",
    )
    assert statuses.count("CONTINUED_AS_NEW") >= 2 and len(statuses) >= 3


def test_changing_tests_changes_exactly_the_affected_scores(stack: Stack):
    tests = (
        "import unittest\nfrom solution import sum\n\n\nclass TestSum(unittest.TestCase):\n"
        "    def test_two_plus_four(self):\n        self.assertEqual(sum(2, 4), 6)\n\n"
        "    def test_forty_plus_two(self):\n        self.assertEqual(sum(40, 2), 42)\n"
    )
    with stack.client(stack.tokens["ada"]) as c:
        created = c.post(
            "/assignments",
            json={
                "title": "Sum again",
                "slug": f"sum-{uuid.uuid4().hex[:8]}",
                "order": 2000,
                "test_code": tests,
            },
        )
    assert created.status_code == 201
    assignment = created.json()
    right, hardcoded, wrong = DEMO_ANSWERS["sum"]
    slug = f"cohort-{uuid.uuid4().hex[:8]}"
    stack.db(lambda s: synthetic_cohort(s, slug, 9, {assignment["id"]: [right, hardcoded, wrong]}))
    teacher = stack.new_user(role="instructor", cohort=slug)

    stricter = (
        tests + "\n    def test_one_plus_one(self):\n        self.assertEqual(sum(1, 1), 2)\n"
    )
    # Offered to demo and to this cohort, the assignment is no single instructor's to change: an operator
    # changes its tests for both
    with stack.client(stack.tokens["otto"]) as c:
        assert (
            c.put(f"/assignments/{assignment['id']}", json={"test_code": stricter}).status_code
            == 200
        )
    done = wait_final(
        stack, teacher, start(stack, teacher, cohort=slug, assignment_id=assignment["id"])["id"]
    )
    assert (done["status"], done["total"], done["done"], done["changed"], done["errors"]) == (
        "completed",
        9,
        9,
        3,
        0,
    )

    with stack.client(teacher) as c:
        changes = c.get(f"/regrades/{done['id']}/changes").json()
        csv_text = c.get(f"/regrades/{done['id']}/changes", params={"format": "csv"}).text
        scores = {
            s: c.get(f"/submissions/{s}").json()["score"]
            for s in [ch["submission_id"] for ch in changes]
        }
    hardcoded_students = {f"{slug}-student-{i:06d}" for i in (1, 4, 7)}
    assert {c["student"] for c in changes} == hardcoded_students
    assert all((c["old_score"], c["new_score"]) == (100.0, 66.67) for c in changes)
    assert all(score == 66.67 for score in scores.values()), "the submissions' scores are updated"
    lines = csv_text.strip().splitlines()
    assert lines[0] == "student,assignment_id,assignment,old_score,new_score,submission_id"
    assert len(lines) == 4 and all(",100.0,66.67," in line for line in lines[1:])


def slow_answers() -> dict[str, list[Answer]]:
    slow = "import time\ntime.sleep(0.05)\n"
    return {"hello": [Answer(slow + a.code, a.passed, a.score) for a in DEMO_ANSWERS["hello"]]}


def test_pause_stops_new_gradings_within_a_second_and_resume_finishes(stack: Stack):
    slug, teacher, submissions = cohort_with(stack, 300, slow_answers())
    started = start(stack, teacher, cohort=slug, chunk_size=10)
    wait_for(
        lambda: batch(stack, teacher, started["id"])["done"] >= 20, 60, "the regrade to get going"
    )
    with stack.client(teacher) as c:
        paused = c.post(f"/regrades/{started['id']}/pause")
    paused_at = datetime.now(UTC)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert paused.json()["actions"] == ["resume", "cancel"], "the API says what a batch allows now"

    async def in_flight(client: Client):
        return await client.get_workflow_handle(started["workflow_id"]).query("progress")

    wait_for(lambda: temporal(stack, in_flight)["in_flight"] == 0, 30, "chunks in flight to stop")
    held = batch(stack, teacher, started["id"])
    runs = runs_of(stack, started["id"])
    assert len(runs) == held["done"] < held["total"] == 300
    latest_start = max(r[4] for r in runs)
    assert (latest_start - paused_at).total_seconds() <= 1.0, (
        "a grading started more than 1 s after pause"
    )
    with stack.client(teacher) as c:
        assert c.post(f"/regrades/{started['id']}/pause").status_code == 409
        resumed = c.post(f"/regrades/{started['id']}/resume").json()
        assert (resumed["status"], resumed["actions"]) == ("running", ["pause", "cancel"])
    done = wait_final(stack, teacher, started["id"])
    assert (done["status"], done["done"], done["errors"]) == ("completed", 300, 0)
    assert done["actions"] == []
    assert sorted(r[0] for r in runs_of(stack, started["id"])) == sorted(submissions)


def test_progress_moves_while_one_chunk_grades(stack: Stack):
    """A chunk records its gradings as they come, not only at its end: an instructor watching a regrade of one
    chunk sees it move."""
    slug, teacher, submissions = cohort_with(stack, 100, slow_answers())
    started = start(stack, teacher, cohort=slug, chunk_size=100)
    midway = wait_for(
        lambda: 0 < (b := batch(stack, teacher, started["id"]))["done"] < 100 and b,
        60,
        "the batch to show part of its one chunk done",
        interval=0.02,
    )
    assert midway["status"] == "running", midway
    assert len(runs_of(stack, started["id"])) >= midway["done"]
    done = wait_final(stack, teacher, started["id"])
    assert (done["status"], done["done"], done["errors"]) == ("completed", 100, 0)
    runs = runs_of(stack, started["id"])
    assert sorted(r[0] for r in runs) == sorted(submissions), "each graded once"


def test_a_chunk_waiting_behind_others_is_not_timed_out(stack: Stack):
    """Four chunks start at once and share the worker's regrade slots; the last one's gradings wait for the others'
    (here about 15 s, longer than the chunk's heartbeat timeout). It is alive meanwhile, so it must not be timed out
    and graded again."""
    slow = "import time\ntime.sleep(0.2)\n"
    answers = {"hello": [Answer(slow + a.code, a.passed, a.score) for a in DEMO_ANSWERS["hello"]]}
    slug, teacher, submissions = cohort_with(stack, 400, answers)
    started = start(stack, teacher, cohort=slug, chunk_size=100)
    done = wait_final(stack, teacher, started["id"])
    assert (done["status"], done["done"], done["errors"]) == ("completed", 400, 0)
    runs = runs_of(stack, started["id"])
    assert sorted(r[0] for r in runs) == sorted(submissions)
    assert {r[3] for r in runs} == {1}, "every chunk graded in its first attempt"


def test_cancel_ends_the_batch_with_what_was_done_recorded(stack: Stack):
    slug, teacher, _ = cohort_with(stack, 300, slow_answers())
    started = start(stack, teacher, cohort=slug, chunk_size=10)
    wait_for(
        lambda: batch(stack, teacher, started["id"])["done"] >= 20, 60, "the regrade to get going"
    )
    with stack.client(teacher) as c:
        assert c.post(f"/regrades/{started['id']}/cancel").json()["status"] == "cancelling"
    done = wait_final(stack, teacher, started["id"])
    assert done["status"] == "cancelled" and done["finished_at"] is not None
    assert done["done"] == len(runs_of(stack, started["id"])) < 300
    with stack.client(teacher) as c:
        assert c.post(f"/regrades/{started['id']}/resume").status_code == 409


def test_an_action_its_workflow_cannot_take_is_a_409_that_changes_nothing(stack: Stack):
    slug, teacher, _ = cohort_with(stack, 100, slow_answers())
    started = start(stack, teacher, cohort=slug, chunk_size=10)

    async def terminate(client: Client):
        await client.get_workflow_handle(started["workflow_id"]).terminate("by hand, for the test")

    temporal(stack, terminate)
    with stack.client(teacher) as c:
        before = c.get(f"/regrades/{started['id']}").json()["status"]
        r = c.post(f"/regrades/{started['id']}/pause")
        assert r.status_code == 409 and "did not take the pause" in r.json()["detail"], r.text
        assert c.get(f"/regrades/{started['id']}").json()["status"] == before
        # Nothing left to stop: cancelling closes the batch, and the cohort can be regraded again
        cancelled = c.post(f"/regrades/{started['id']}/cancel").json()
        assert (cancelled["status"], cancelled["actions"]) == ("cancelled", [])
        again = start(stack, teacher, cohort=slug, chunk_size=50)
        assert wait_final(stack, teacher, again["id"])["status"] == "completed"


def test_an_operator_terminating_a_regrade_ends_its_batch(stack: Stack):
    slug, teacher, _ = cohort_with(stack, 100, slow_answers())
    started = start(stack, teacher, cohort=slug, chunk_size=10)
    with stack.client(stack.tokens["otto"]) as c:
        r = c.post(
            f"/ops/workflows/{started['workflow_id']}/terminate", json={"reason": "stuck, by hand"}
        )
        assert r.status_code == 200, r.text
    batch_now = batch(stack, teacher, started["id"])
    assert batch_now["status"] == "failed" and batch_now["finished_at"] is not None


def test_worker_killed_mid_batch_of_2000_completes_with_one_run_each(stack: Stack):
    slug, teacher, submissions = cohort_with(
        stack, 1000, {"hello": DEMO_ANSWERS["hello"], "sum": DEMO_ANSWERS["sum"]}
    )
    assert len(submissions) == 2000
    started = start(stack, teacher, cohort=slug)

    # Live submissions keep being graded while the regrade runs.
    wait_for(
        lambda: batch(stack, teacher, started["id"])["done"] >= 200, 120, "the regrade to get going"
    )
    student = stack.new_user()
    live = submit(stack, student, unique("def hello():\n    return 'Hello'\n")).json()
    assert stack.wait_graded(student, live["id"], timeout=10)["passed"] is True
    assert batch(stack, teacher, started["id"])["status"] == "running"

    wait_for(lambda: batch(stack, teacher, started["id"])["done"] >= 600, 120, "more progress")
    stack.worker.kill()
    stack.worker.start()
    done = wait_final(stack, teacher, started["id"], timeout=300)
    assert (done["status"], done["total"], done["done"], done["errors"], done["changed"]) == (
        "completed",
        2000,
        2000,
        0,
        0,
    )
    runs = runs_of(stack, started["id"])
    assert len(runs) == 2000 and sorted(r[0] for r in runs) == sorted(submissions)
    assert max(r[3] for r in runs) >= 2, "the chunks the dead worker held were retried"


def test_regrade_rules(stack: Stack):
    slug, teacher, _ = cohort_with(stack, 2, {"hello": DEMO_ANSWERS["hello"]})
    for token in (stack.new_user(), stack.new_user(role="operator")):
        with stack.client(token) as c:
            response = c.post("/regrades", json={"cohort": slug})
            assert (
                response.status_code == 403
                and "needs the instructor role" in response.json()["detail"]
            )
            assert c.get("/regrades").status_code == 403
    with stack.client(teacher) as c:
        assert c.post("/regrades", json={"cohort": "no-such-cohort"}).status_code == 404
        assert c.post("/regrades", json={"cohort": slug, "assignment_id": 99999}).status_code == 404
        assert c.get(f"/regrades/{uuid.uuid4()}").status_code == 404
        assert c.get("/regrades/not-a-uuid").status_code == 422
    with stack.client(stack.new_user(role="instructor", cohort=None)) as c:
        response = c.post("/regrades", json={"cohort": slug})
        assert response.status_code == 403 and "do not teach" in response.json()["detail"]
    first = start(stack, teacher, cohort=slug)
    with stack.client(teacher) as c:
        second = c.post("/regrades", json={"cohort": slug})
        if batch(stack, teacher, first["id"])["status"] not in FINAL:
            assert second.status_code == 409 and second.json()["running_batch_id"] == first["id"]
        listed = [b["id"] for b in c.get("/regrades").json()]
    assert first["id"] in listed
    wait_final(stack, teacher, first["id"])


def test_cli_regrade_follows_to_the_end(stack: Stack):
    import subprocess
    import sys

    slug, teacher, _ = cohort_with(stack, 5, {"hello": DEMO_ANSWERS["hello"]})
    env = {**stack.env, "GRADEFLOW_API_URL": stack.api_url, "GRADEFLOW_TOKEN": teacher}
    result = subprocess.run(
        [sys.executable, "-m", "gradeflow", "regrade", slug, "--follow"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "regrade " in result.stdout
        and "completed: 5 regraded, 0 changed, 0 errors" in result.stdout
    )
    assert "5/5" in result.stderr, "the progress bar reaches the end"
    refused = subprocess.run(
        [sys.executable, "-m", "gradeflow", "regrade", "no-such-cohort"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "does not exist" in refused.stderr
