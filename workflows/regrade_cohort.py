"""RegradeCohort: re-grade the latest submission of every student of a cohort (optionally one assignment).

Pages through the scope by keyset, keeps a bounded number of chunk activities in flight on the regrade task
queue, obeys pause/resume/cancel signals, answers a progress query, and continues as new every few pages so its
history stays small. Everything it must remember across runs travels in its input.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field, replace

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.regrade import (
        BatchEnd,
        BatchRef,
        ChunkFailure,
        ChunkRequest,
        ChunkResult,
        Page,
        PageRequest,
        RegradeActivities,
    )
    from gradeflow.vocabulary import BatchStatus
    from workflows.config import (
        INFRA_RETRY,
        REGRADE_BOOKKEEPING_START_TO_CLOSE,
        REGRADE_CHUNK_HEARTBEAT,
        REGRADE_CHUNK_START_TO_CLOSE,
    )


@dataclass
class RegradeInput:
    batch_id: str
    cohort_id: int
    assignment_id: int | None = None
    # "chunks": one activity grades a chunk (the default, chosen by measurement: see BENCHMARKS.md);
    # "children": one child workflow per submission, each with its own history.
    strategy: str = "chunks"
    page_size: int = 500
    chunk_size: int = 25
    chunks_in_flight: int = 4
    pages_per_run: int = 10
    # Carried across continue-as-new:
    started: bool = False
    after_assignment: int = 0
    after_user: int = 0
    exhausted: bool = False
    leftover: list[str] = field(default_factory=list)
    paused: bool = False
    cancelled: bool = False
    run: int = 1


@dataclass
class RegradeProgress:
    run: int
    paused: bool
    cancelled: bool
    in_flight: int
    queued: int
    graded_this_run: int
    changed_this_run: int
    errors_this_run: int


@dataclass
class RegradeSubmissionInput:
    batch_id: str
    submission_id: str


@workflow.defn
class RegradeSubmission:
    """The "children" strategy: one submission's regrade as a workflow of its own."""

    @workflow.run
    async def run(self, inp: RegradeSubmissionInput) -> ChunkResult:
        info = workflow.info()
        return await workflow.execute_activity_method(
            RegradeActivities.regrade_chunk,
            ChunkRequest(inp.batch_id, [inp.submission_id], info.workflow_id, info.run_id),
            start_to_close_timeout=REGRADE_CHUNK_START_TO_CLOSE,
            heartbeat_timeout=REGRADE_CHUNK_HEARTBEAT,
            retry_policy=INFRA_RETRY,
        )


@workflow.defn
class RegradeCohort:
    def __init__(self) -> None:
        self.paused = False
        self.cancelled = False
        self.queue: deque[str] = deque()
        self.in_flight = 0
        self.totals = ChunkResult()
        self.run_number = 1

    @workflow.signal
    def pause(self) -> None:
        self.paused = True

    @workflow.signal
    def resume(self) -> None:
        self.paused = False

    @workflow.signal
    def cancel(self) -> None:
        self.cancelled = True

    @workflow.query
    def progress(self) -> RegradeProgress:
        return RegradeProgress(
            self.run_number,
            self.paused,
            self.cancelled,
            self.in_flight,
            len(self.queue),
            self.totals.graded,
            self.totals.changed,
            self.totals.errors,
        )

    async def _chunk(self, inp: RegradeInput, ids: list[str]) -> None:
        info = workflow.info()
        self.in_flight += 1
        try:
            if inp.strategy == "children":
                results = await asyncio.gather(
                    *(
                        workflow.execute_child_workflow(
                            RegradeSubmission.run,
                            RegradeSubmissionInput(inp.batch_id, sub_id),
                            id=f"{info.workflow_id}-{sub_id}",
                        )
                        for sub_id in ids
                    )
                )
                result = ChunkResult(
                    sum(r.graded for r in results),
                    sum(r.changed for r in results),
                    sum(r.errors for r in results),
                    [i for r in results for i in r.not_done],
                )
            else:
                result = await workflow.execute_activity_method(
                    RegradeActivities.regrade_chunk,
                    ChunkRequest(inp.batch_id, ids, info.workflow_id, info.run_id),
                    start_to_close_timeout=REGRADE_CHUNK_START_TO_CLOSE,
                    heartbeat_timeout=REGRADE_CHUNK_HEARTBEAT,
                    retry_policy=INFRA_RETRY,
                )
        except ActivityError as err:
            # Retries exhausted: account for these submissions as errors rather than stall the batch.
            await workflow.execute_activity_method(
                RegradeActivities.record_regrade_errors,
                ChunkFailure(
                    inp.batch_id, ids, str(err.cause or err), info.workflow_id, info.run_id
                ),
                start_to_close_timeout=REGRADE_BOOKKEEPING_START_TO_CLOSE,
                retry_policy=INFRA_RETRY,
            )
            self.totals.errors += len(ids)
            return
        finally:
            self.in_flight -= 1
        self.totals.graded += result.graded
        self.totals.changed += result.changed
        # Paused or cancelled mid-chunk: do them later
        self.queue.extendleft(reversed(result.not_done))

    @workflow.run
    async def run(self, inp: RegradeInput) -> str:
        self.paused, self.cancelled, self.run_number = inp.paused, inp.cancelled, inp.run
        self.queue.extend(inp.leftover)
        if not inp.started:
            await workflow.execute_activity_method(
                RegradeActivities.start_regrade,
                BatchRef(inp.batch_id),
                start_to_close_timeout=REGRADE_BOOKKEEPING_START_TO_CLOSE,
                retry_policy=INFRA_RETRY,
            )
        cursor = (inp.after_assignment, inp.after_user)
        exhausted = inp.exhausted
        pages = 0
        tasks: set[asyncio.Task] = set()
        while True:
            await workflow.wait_condition(lambda: not self.paused or self.cancelled)
            if self.cancelled:
                break
            if not self.queue and not exhausted:
                if pages >= inp.pages_per_run or workflow.info().is_continue_as_new_suggested():
                    if tasks:
                        await workflow.wait(tasks)
                    workflow.continue_as_new(
                        replace(
                            inp,
                            started=True,
                            after_assignment=cursor[0],
                            after_user=cursor[1],
                            exhausted=exhausted,
                            leftover=list(self.queue),
                            paused=self.paused,
                            cancelled=self.cancelled,
                            run=inp.run + 1,
                        )
                    )
                page: Page = await workflow.execute_activity_method(
                    RegradeActivities.fetch_regrade_page,
                    PageRequest(
                        inp.batch_id,
                        inp.cohort_id,
                        inp.assignment_id,
                        cursor[0],
                        cursor[1],
                        inp.page_size,
                    ),
                    start_to_close_timeout=REGRADE_BOOKKEEPING_START_TO_CLOSE,
                    retry_policy=INFRA_RETRY,
                )
                pages += 1
                self.queue.extend(page.submission_ids)
                cursor, exhausted = (page.after_assignment, page.after_user), page.last
            while (
                self.queue
                and len(tasks) < inp.chunks_in_flight
                and not self.paused
                and not self.cancelled
            ):
                ids = [self.queue.popleft() for _ in range(min(inp.chunk_size, len(self.queue)))]
                task = asyncio.ensure_future(self._chunk(inp, ids))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if not tasks:
                if not self.queue and exhausted:
                    break
                continue
            if self.queue or not exhausted:
                # Keep the pipeline full: go on as soon as one chunk finishes (or a signal arrives).
                await workflow.wait(list(tasks), return_when=asyncio.FIRST_COMPLETED)
            else:
                await workflow.wait(list(tasks))
        if tasks:
            await workflow.wait(list(tasks))
        status = BatchStatus.CANCELLED if self.cancelled else BatchStatus.COMPLETED
        await workflow.execute_activity_method(
            RegradeActivities.finish_regrade,
            BatchEnd(inp.batch_id, status),
            start_to_close_timeout=REGRADE_BOOKKEEPING_START_TO_CLOSE,
            retry_policy=INFRA_RETRY,
        )
        return status
