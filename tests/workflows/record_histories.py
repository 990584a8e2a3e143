"""Record the histories the replay tests replay: real runs of each workflow on a real stack, saved as JSON under
tests/workflows/histories/. Run it again when a workflow changes on purpose (and keep the old files: a history
recorded before a change must still replay after it):

    .venv/bin/python -m tests.workflows.record_histories                    # all of them
    .venv/bin/python -m tests.workflows.record_histories recompute_grades   # only those named
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from temporalio.client import Client

from tests.conftest import launch_stack, wait_for
from tests.integration.test_submission_path import RIGHT_HELLO, WRONG_HELLO, unique

HISTORIES = Path(__file__).resolve().parent / "histories"


async def save(address: str, workflow_id: str, name: str) -> None:
    """Every run of `workflow_id` (a continue-as-new chain has several), oldest first."""
    client = await Client.connect(address)
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    for number, run in enumerate(sorted(runs, key=lambda w: w.start_time), start=1):
        history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        path = HISTORIES / f"{name}-run{number}.json"
        path.write_text(history.to_json())
        print(f"recorded {path.name} ({len(history.events)} events)")


def record_recompute(stack) -> None:
    """A late submission capped by a late window, then an extension for its student: the recount."""
    from datetime import UTC, datetime, timedelta

    from gradeflow.accounts import add_cohort
    from gradeflow.tokens import hash_token

    slug = f"histories-{int(time.time())}"
    stack.db(lambda session: add_cohort(session, slug))
    teacher, student = stack.new_user(role="instructor", cohort=slug), stack.new_user(cohort=slug)
    (name,) = stack.sql("SELECT name FROM users WHERE token_hash = :h", h=hash_token(student))[0]
    due = datetime.now(UTC) - timedelta(hours=1)
    with stack.client(teacher) as c:
        c.put(
            f"/cohorts/{slug}/assignments/1",
            json={"due_at": due.isoformat(), "late_windows": [{"hours": 24, "credit": 0.5}]},
        ).raise_for_status()
    with stack.client(student) as c:
        sub = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)}).json()
    stack.wait_graded(student, sub["id"])
    with stack.client(teacher) as c:
        granted = c.put(
            f"/cohorts/{slug}/assignments/1/extensions/{name}",
            json={"due_at": (due + timedelta(days=2)).isoformat(), "reason": "histories"},
        ).json()
        report = granted["recompute"]["links"]["self"].removeprefix("/api/v1")
        wait_for(lambda: c.get(report).json()["status"] == "completed", 60, "the recompute")
    asyncio.run(
        save(stack.temporal_address, f"recompute-{granted['recompute']['id']}", "recompute_grades")
    )


def record_similarity(stack) -> None:
    """A similarity report over a copied pair and an independent solution: every step, on two pages."""
    from gradeflow.accounts import add_cohort
    from gradeflow.launch.synthetic import Answer, synthetic_cohort
    from tests.similarity_samples import INDEPENDENT, ORIGINAL, RENAMED

    slug = f"histories-similar-{int(time.time())}"
    stack.db(lambda session: add_cohort(session, slug))
    codes = [ORIGINAL, RENAMED, INDEPENDENT[0]]
    stack.db(
        lambda session: synthetic_cohort(
            session, slug, len(codes), {1: [Answer(c, True, 1.0) for c in codes]}
        )
    )
    teacher = stack.new_user(role="instructor", cohort=slug)
    with stack.client(teacher) as c:
        report = c.post("/similarity/reports", json={"cohort": slug, "assignment_id": 1}).json()
        wait_for(
            lambda: c.get(f"/similarity/reports/{report['id']}").json()["status"] == "completed",
            60,
            "the similarity report",
        )
    asyncio.run(save(stack.temporal_address, f"similarity-{report['id']}", "similarity_report"))


def record_c(stack) -> None:
    """The seeded Sum in C: a grading with its compile step (passed), a compile error, and a regrade whose chunks
    go to C's batch queue."""
    from gradeflow.launch.seed_languages import C_SUM

    log = stack.home / "logs" / "worker.log"
    wait_for(lambda: log.exists() and "worker ready" in log.read_text(), 120, "the worker")
    with stack.client(stack.tokens["alice"]) as c:
        sum_c = next(a for a in c.get("/assignments").json() if a["slug"] == "sum-c")
    for name, code in (
        ("grade_submission-c-passed", C_SUM),
        ("grade_submission-c-compile_error", "int main(void) { return total; }\n"),
    ):
        token = stack.new_user()
        with stack.client(token) as c:
            sub = c.post(
                f"/assignments/{sum_c['id']}/submissions",
                json={"code": f"/* {time.time_ns()} */ {code}"},
            ).json()
        stack.wait_graded(token, sub["id"], timeout=120)
        asyncio.run(save(stack.temporal_address, f"grade-{sub['id']}", name))
    with stack.client(stack.tokens["ada"]) as c:
        batch = c.post(
            "/regrades",
            json={"cohort": "demo", "assignment_id": sum_c["id"], "page_size": 1, "chunk_size": 1},
        ).json()
        wait_for(
            lambda: c.get(f"/regrades/{batch['id']}").json()["status"] in ("completed", "failed"),
            300,
            "the regrade to finish",
        )
    asyncio.run(save(stack.temporal_address, batch["workflow_id"], "regrade_cohort-c"))


def record_lti(stack) -> None:
    """An LMS's grades (PostGrades, still running: it runs while the LMS is registered), a grade held back while
    the LMS is down and sent after; a scheduled roster sync (SyncRosters)."""

    from tests.integration.test_lti import enter, linked_course, register
    from tests.lti.lms import Lms

    lms = Lms().start()
    try:
        register(stack, lms, "histories-lms")
        course, made, url = linked_course(stack, lms)
        student = lms.person("hana")
        token = enter(stack, lms, student, course, made)

        def graded(code: str, score: float) -> None:
            with stack.client(token) as c:
                sub = c.post("/assignments/1/submissions", json={"code": unique(code)}).json()
            stack.wait_graded(token, sub["id"])
            wait_for(
                lambda: (lms.score_of(url, student.sub) or {}).get("scoreGiven") == score,
                120,
                f"the LMS to get {score}",
            )

        graded(WRONG_HELLO, 0)
        lms.stop()
        with stack.client(token) as c:
            sub = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)}).json()
        stack.wait_graded(token, sub["id"])
        # A round fails while the LMS is down (the history shows the retry after it)
        wait_for(
            lambda: (
                stack.sql("SELECT count(*) FROM lti_grade_posts WHERE last_error IS NOT NULL")[0][0]
                > 0
            ),
            120,
            "a post to fail while the LMS is down",
        )
        lms.start()
        wait_for(
            lambda: (lms.score_of(url, student.sub) or {}).get("scoreGiven") == 100,
            120,
            "the LMS to get the grade after it came back",
        )
        platform = stack.sql("SELECT id FROM lti_platforms WHERE name = 'histories-lms'")[0][0]
        asyncio.run(save(stack.temporal_address, f"lti-grades-{platform}", "post_grades"))

        async def sync_rosters() -> None:
            client = await Client.connect(stack.temporal_address)
            await client.get_schedule_handle("gradeflow-lti-rosters").trigger()
            for _ in range(600):
                runs = [
                    w
                    async for w in client.list_workflows("WorkflowType = 'SyncRosters'")
                    if w.close_time is not None
                ]
                if runs:
                    await save(stack.temporal_address, runs[0].id, "sync_rosters")
                    return
                await asyncio.sleep(0.1)
            raise AssertionError("the scheduled roster sync did not finish")

        lms.members = [student]
        asyncio.run(sync_rosters())
    finally:
        lms.stop()


RECORDERS = {
    "recompute_grades": record_recompute,
    "similarity_report": record_similarity,
    "c": record_c,
    "lti": record_lti,
}


def main(only: set[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    with launch_stack(Path(tempfile.mkdtemp(prefix="gradeflow-histories-"))) as stack:
        for name, record in RECORDERS.items():
            if not only or name in only:
                record(stack)
        if only - set(RECORDERS) or not only:
            record_the_rest(stack)


def record_the_rest(stack) -> None:
    """Gradings passed and wrong, a solution check, and a regrade across continue-as-new."""
    address = stack.temporal_address
    for name, code in (
        ("grade_submission-passed", RIGHT_HELLO),
        ("grade_submission-wrong", WRONG_HELLO),
    ):
        token = stack.new_user()
        with stack.client(token) as c:
            sub = c.post("/assignments/1/submissions", json={"code": unique(code)}).json()
        stack.wait_graded(token, sub["id"])
        asyncio.run(save(address, f"grade-{sub['id']}", name))

    with stack.client(stack.tokens["ada"]) as c:
        checked = c.post(
            "/assignments/check",
            json={
                "test_code": "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n"
                "        self.assertTrue(True)\n",
                "reference_solution": "x = 1",
            },
        )
        assert checked.status_code == 200, checked.text
        # A regrade of small pages (continue-as-new after each), paused and resumed on the way.
        batch = c.post(
            "/regrades",
            json={"cohort": "demo", "page_size": 1, "pages_per_run": 1, "chunk_size": 1},
        ).json()
        c.post(f"/regrades/{batch['id']}/pause")
        time.sleep(1)  # a pause that lasts: the history shows the workflow waiting
        c.post(f"/regrades/{batch['id']}/resume")
        wait_for(
            lambda: c.get(f"/regrades/{batch['id']}").json()["status"] in ("completed", "failed"),
            300,
            "the regrade to finish",
        )
    asyncio.run(save(address, batch["workflow_id"], "regrade_cohort"))

    async def last_check() -> str:
        client = await Client.connect(address)
        found = [w async for w in client.list_workflows("WorkflowType = 'CheckSolution'")]
        return found[0].id

    asyncio.run(save(address, asyncio.run(last_check()), "check_solution"))


if __name__ == "__main__":
    import sys

    main(set(sys.argv[1:]))
