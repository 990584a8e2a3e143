"""RegradeCohort: re-grade the latest submission of every student of a cohort (optionally one assignment).

Pages through the scope by keyset, keeps a bounded number of chunk activities in flight on the regrade task
queue, obeys pause/resume/cancel signals, answers a progress query, and continues as new every few pages so its
history stays small. Everything it must remember across runs travels in its input.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NoReturn, TypeVar

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
        batch_grading_queue,
    )


def chunk_queue(language: str) -> str | None:
    """Where a chunk of this language goes: Python's stay on the workflow's own queue (as they always have, so
    histories recorded before other languages replay unchanged)."""
    return batch_grading_queue(language) if language else None


In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class RegradeSettings:
    """How a regrade runs, chosen when it starts and the same in every run."""

    # "chunks": one activity grades a chunk (the default, chosen by measurement: see BENCHMARKS.md);
    # "children": one child workflow per submission, each with its own history.
    strategy: str = "chunks"
    page_size: int = 500
    chunk_size: int = 100
    chunks_in_flight: int = 4
    pages_per_run: int = 10


@dataclass
class Carried:
    """What one run hands the next across continue-as-new: where the paging stands and what is left to do."""

    started: bool = False
    after_assignment: int = 0
    after_user: int = 0
    exhausted: bool = False
    leftover: list[str] = field(default_factory=list)
    paused: bool = False
    cancelled: bool = False
    run: int = 1
    # The leftover's submissions not in Python, with their language
    leftover_languages: dict[str, str] = field(default_factory=dict)


@dataclass
class RegradeInput:
    """What starts each run: the batch and its scope, its settings, and what the previous run carried.

    Flat on purpose: this is the shape stored in the histories of regrades in flight (they replay against new
    code after a deploy), so its fields are those of RegradeSettings and Carried side by side. Read them through
    `settings` and `carried`; add fields only with defaults."""

    batch_id: str
    cohort_id: int
    assignment_id: int | None = None
    strategy: str = "chunks"
    page_size: int = 500
    chunk_size: int = 100
    chunks_in_flight: int = 4
    pages_per_run: int = 10
    started: bool = False
    after_assignment: int = 0
    after_user: int = 0
    exhausted: bool = False
    leftover: list[str] = field(default_factory=list)
    paused: bool = False
    cancelled: bool = False
    run: int = 1
    leftover_languages: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        batch_id: str,
        cohort_id: int,
        assignment_id: int | None = None,
        settings: RegradeSettings | None = None,
        carried: Carried | None = None,
    ) -> RegradeInput:
        return cls(
            batch_id,
            cohort_id,
            assignment_id,
            **asdict(settings or RegradeSettings()),
            **asdict(carried or Carried()),
        )

    @property
    def settings(self) -> RegradeSettings:
        return RegradeSettings(**{f.name: getattr(self, f.name) for f in fields(RegradeSettings)})

    @property
    def carried(self) -> Carried:
        return Carried(**{f.name: getattr(self, f.name) for f in fields(Carried)})


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
    language: str = ""  # "" is Python


@workflow.defn
class RegradeSubmission:
    """The "children" strategy: one submission's regrade as a workflow of its own."""

    @workflow.run
    async def run(self, inp: RegradeSubmissionInput) -> ChunkResult:
        info = workflow.info()
        return await workflow.execute_activity_method(
            RegradeActivities.regrade_chunk,
            ChunkRequest(inp.batch_id, [inp.submission_id], info.workflow_id, info.run_id),
            task_queue=chunk_queue(inp.language),
            start_to_close_timeout=REGRADE_CHUNK_START_TO_CLOSE,
            heartbeat_timeout=REGRADE_CHUNK_HEARTBEAT,
            retry_policy=INFRA_RETRY,
        )


@workflow.defn
class RegradeCohort:
    """One run pages through the scope and grades it in chunks; every few pages it continues as new, handing
    the next run what it carried. The steps, in order: start the batch (first run only); then, until the scope is
    done or cancelled, wait out a pause, fetch the next page when the queue is empty, keep `chunks_in_flight`
    chunks grading, and wait for one to finish; at the end, wait for the last chunks and finish the batch."""

    # Built from the input (workflow.init) before any signal is handled: a pause or cancel that reaches a run in
    # its first workflow task, right after the start or a continue-as-new, is applied on top of what was carried,
    # not overwritten by it (a test saw a pause sent at once after the start lost that way).
    @workflow.init
    def __init__(self, inp: RegradeInput) -> None:
        self.paused = False
        self.cancelled = False
        self.queue: deque[str] = deque()
        self.language_of: dict[str, str] = {}  # queued submissions not in Python
        self.in_flight = 0
        self.totals = ChunkResult()
        self.run_number = 1
        self.cursor = (0, 0)  # (assignment id, user id) of the last submission paged in
        self.exhausted = False  # the last page has been fetched
        self.pages = 0  # fetched by this run
        self.chunks: set[asyncio.Task] = set()
        self._take_over(inp.carried)

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

    @workflow.run
    async def run(self, inp: RegradeInput) -> str:
        settings = inp.settings
        if not inp.started:
            await self._bookkeeping(RegradeActivities.start_regrade, BatchRef(inp.batch_id))
        while await self._not_cancelled():
            if not self.queue and not self.exhausted:
                if self._run_is_full(settings):
                    await self._continue_as_new(inp)
                await self._fetch_page(inp, settings)
            self._start_chunks(inp, settings)
            if not self.chunks:
                if not self.queue and self.exhausted:
                    break
                continue
            await self._wait_for_chunks()
        if self.chunks:
            await workflow.wait(list(self.chunks))
        status = BatchStatus.CANCELLED if self.cancelled else BatchStatus.COMPLETED
        await self._bookkeeping(RegradeActivities.finish_regrade, BatchEnd(inp.batch_id, status))
        return status

    def _take_over(self, carried: Carried) -> None:
        """Pick up where the previous run stopped."""
        self.paused, self.cancelled, self.run_number = (
            carried.paused,
            carried.cancelled,
            carried.run,
        )
        self.queue.extend(carried.leftover)
        self.language_of.update(carried.leftover_languages)
        self.cursor = (carried.after_assignment, carried.after_user)
        self.exhausted = carried.exhausted

    async def _not_cancelled(self) -> bool:
        """Wait out a pause; False once the regrade is cancelled."""
        await workflow.wait_condition(lambda: not self.paused or self.cancelled)
        return not self.cancelled

    def _run_is_full(self, settings: RegradeSettings) -> bool:
        return (
            self.pages >= settings.pages_per_run or workflow.info().is_continue_as_new_suggested()
        )

    async def _continue_as_new(self, inp: RegradeInput) -> NoReturn:
        """Let the chunks in flight finish, then hand the next run what is left (keeps the history small)."""
        if self.chunks:
            await workflow.wait(self.chunks)
        carried = Carried(
            started=True,
            after_assignment=self.cursor[0],
            after_user=self.cursor[1],
            exhausted=self.exhausted,
            leftover=list(self.queue),
            leftover_languages={
                i: self.language_of[i] for i in self.queue if i in self.language_of
            },
            paused=self.paused,
            cancelled=self.cancelled,
            run=inp.run + 1,
        )
        workflow.continue_as_new(
            RegradeInput.of(inp.batch_id, inp.cohort_id, inp.assignment_id, inp.settings, carried)
        )

    async def _fetch_page(self, inp: RegradeInput, settings: RegradeSettings) -> None:
        page: Page = await self._bookkeeping(
            RegradeActivities.fetch_regrade_page,
            PageRequest(
                inp.batch_id,
                inp.cohort_id,
                inp.assignment_id,
                self.cursor[0],
                self.cursor[1],
                settings.page_size,
            ),
        )
        self.pages += 1
        self.queue.extend(page.submission_ids)
        self.language_of.update(page.languages)
        self.cursor, self.exhausted = (page.after_assignment, page.after_user), page.last

    def _start_chunks(self, inp: RegradeInput, settings: RegradeSettings) -> None:
        """Keep up to `chunks_in_flight` chunks grading, unless paused or cancelled."""
        while (
            self.queue
            and len(self.chunks) < settings.chunks_in_flight
            and not self.paused
            and not self.cancelled
        ):
            # One language per chunk (a page is in assignment order, so a language's submissions are together)
            language = self.language_of.get(self.queue[0], "")
            ids: list[str] = []
            while (
                self.queue
                and len(ids) < settings.chunk_size
                and self.language_of.get(self.queue[0], "") == language
            ):
                ids.append(self.queue.popleft())
            chunk = asyncio.ensure_future(self._chunk(inp, settings, ids, language))
            self.chunks.add(chunk)
            chunk.add_done_callback(self.chunks.discard)

    async def _wait_for_chunks(self) -> None:
        if self.queue or not self.exhausted:
            # Keep the pipeline full: go on as soon as one chunk finishes (or a signal arrives).
            await workflow.wait(list(self.chunks), return_when=asyncio.FIRST_COMPLETED)
        else:
            await workflow.wait(list(self.chunks))

    async def _chunk(
        self, inp: RegradeInput, settings: RegradeSettings, ids: list[str], language: str
    ) -> None:
        """Grade one chunk; one whose retries are exhausted is recorded as errors rather than stall the batch."""
        info = workflow.info()
        self.in_flight += 1
        try:
            if settings.strategy == "children":
                result = await self._chunk_as_children(inp, ids, language)
            else:
                result = await workflow.execute_activity_method(
                    RegradeActivities.regrade_chunk,
                    ChunkRequest(inp.batch_id, ids, info.workflow_id, info.run_id),
                    task_queue=chunk_queue(language),
                    start_to_close_timeout=REGRADE_CHUNK_START_TO_CLOSE,
                    heartbeat_timeout=REGRADE_CHUNK_HEARTBEAT,
                    retry_policy=INFRA_RETRY,
                )
        except ActivityError as err:
            await self._bookkeeping(
                RegradeActivities.record_regrade_errors,
                ChunkFailure(
                    inp.batch_id, ids, str(err.cause or err), info.workflow_id, info.run_id
                ),
            )
            self.totals.errors += len(ids)
            self._forget(ids)
            return
        finally:
            self.in_flight -= 1
        self._forget(set(ids) - set(result.not_done))
        self.totals.graded += result.graded
        self.totals.changed += result.changed
        # Paused or cancelled mid-chunk: do them later
        self.queue.extendleft(reversed(result.not_done))

    def _forget(self, ids: Iterable[str]) -> None:
        for i in ids:
            self.language_of.pop(i, None)

    async def _chunk_as_children(
        self, inp: RegradeInput, ids: list[str], language: str
    ) -> ChunkResult:
        results = await asyncio.gather(
            *(
                workflow.execute_child_workflow(
                    RegradeSubmission.run,
                    RegradeSubmissionInput(inp.batch_id, sub_id, language),
                    id=f"{workflow.info().workflow_id}-{sub_id}",
                )
                for sub_id in ids
            )
        )
        return ChunkResult(
            sum(r.graded for r in results),
            sum(r.changed for r in results),
            sum(r.errors for r in results),
            [i for r in results for i in r.not_done],
        )

    async def _bookkeeping(self, activity: Callable[[Any, In], Awaitable[Out]], arg: In) -> Out:
        """One of the short bookkeeping activities (start, page, errors, finish)."""
        return await workflow.execute_activity_method(
            activity,
            arg,
            start_to_close_timeout=REGRADE_BOOKKEEPING_START_TO_CLOSE,
            retry_policy=INFRA_RETRY,
        )
