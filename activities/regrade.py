"""Regrade activities: count and page through a batch's scope, grade a chunk of submissions, keep the books.

Idempotent by construction: a submission already holding a grading_run for the batch is skipped, runs are
inserted with ON CONFLICT DO NOTHING, and the batch's counters grow only by the rows actually inserted, so a
chunk retried after a worker crash never grades or counts anything twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Table, and_, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.grading import DETAIL_FIELDS, HEARTBEAT_EVERY_SECONDS, grading_run_row, job_for
from gradeflow import redis_keys
from gradeflow.models import (
    TEST_ERROR,
    Assignment,
    Enrollment,
    GradingRun,
    RegradeBatch,
    Submission,
)
from gradeflow.policy import score_of
from gradeflow.redis_keys import best_effort
from gradeflow.vocabulary import BATCH_HOLD, FINAL_STATUSES, BatchStatus, Verdict
from sandbox import Sandbox, SandboxError

log = logging.getLogger(__name__)
# Regrade gradings run niced, so live submissions win the CPU when both are busy.
REGRADE_NICE = 10
# A chunk records its gradings this many at a time (and the rest at its end)
RECORD_EVERY = 25
# A chunk reads whether the batch is paused or cancelled at most this often (a human's hold: a fifth of a second late
# is soon enough)
CONTROL_FRESH_SECONDS = 0.2
_RUNS = cast(Table, GradingRun.__table__)
# Rows as parameters, not in the statement: compiled once and cached (a statement with the rows' values in it was
# compiled anew for every group, half the worker's own CPU in a regrade of C programs), sent as one INSERT a group
# all the same (SQLAlchemy's "insertmanyvalues").
INSERT_RUNS = (
    insert(_RUNS)
    .on_conflict_do_nothing(constraint="uq_grading_runs_submission_batch")
    .returning(_RUNS.c.submission_id)
)


@dataclass
class BatchRef:
    batch_id: str


@dataclass
class PageRequest:
    batch_id: str
    cohort_id: int
    assignment_id: int | None
    after_assignment: int
    after_user: int
    limit: int


@dataclass
class Page:
    submission_ids: list[str]
    after_assignment: int
    after_user: int
    last: bool
    # Submission id -> language, for those not in Python (their chunks go to their language's batch queue)
    languages: dict[str, str] = field(default_factory=dict)


@dataclass
class ChunkRequest:
    batch_id: str
    submission_ids: list[str]
    workflow_id: str
    run_id: str


@dataclass
class ChunkResult:
    graded: int = 0
    changed: int = 0
    errors: int = 0
    # Left because the batch was paused or cancelled
    not_done: list[str] = field(default_factory=list)


@dataclass
class ChunkFailure:
    batch_id: str
    submission_ids: list[str]
    message: str
    workflow_id: str
    run_id: str


@dataclass
class BatchEnd:
    batch_id: str
    status: str


def latest_in_scope(cohort_id: int, assignment_id: int | None):
    """The latest finished submission of each student of the cohort per assignment in scope."""
    query = (
        select(Submission.id, Submission.assignment_id, Submission.user_id, Assignment.language)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .join(
            Enrollment,
            and_(Enrollment.user_id == Submission.user_id, Enrollment.cohort_id == cohort_id),
        )
        .where(Submission.status.in_(FINAL_STATUSES))
        .distinct(Submission.assignment_id, Submission.user_id)
        .order_by(Submission.assignment_id, Submission.user_id, Submission.created_at.desc())
    )
    if assignment_id is not None:
        query = query.where(Submission.assignment_id == assignment_id)
    return query


async def count_done(
    session: AsyncSession, batch_id: uuid.UUID, graded: int = 0, errors: int = 0, changed: int = 0
) -> None:
    """Add submissions to a batch's counters in one statement: `graded` and `errors` are both done."""
    await session.execute(
        update(RegradeBatch)
        .where(RegradeBatch.id == batch_id)
        .values(
            done=RegradeBatch.done + graded + errors,
            errors=RegradeBatch.errors + errors,
            changed=RegradeBatch.changed + changed,
        )
    )


def changed(old: float | None, new: float | None) -> bool:
    if old is None or new is None:
        return old is not new
    return abs(old - new) > 1e-9


class RegradeActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis,
        sandbox: Sandbox,
        concurrency: int,
    ) -> None:
        self.sessions = sessions
        self.redis = redis
        self.sandbox = sandbox
        # One limit for all regrade gradings in this worker, however many chunks run at once.
        self.slots = asyncio.Semaphore(concurrency)

    async def _control(self, batch_id: uuid.UUID) -> str | None:
        """Whether an instructor holds the batch: "paused", "cancelled" or None (Redis first, PostgreSQL if Redis
        is down)."""
        try:
            return cast(str | None, await self.redis.get(redis_keys.regrade_control(str(batch_id))))
        except RedisError:
            async with self.sessions() as session:
                status = await session.scalar(
                    select(RegradeBatch.status).where(RegradeBatch.id == batch_id)
                )
            return BATCH_HOLD.get(BatchStatus(status)) if status else None

    @activity.defn
    async def start_regrade(self, ref: BatchRef) -> int:
        batch_id = uuid.UUID(ref.batch_id)
        async with self.sessions() as session, session.begin():
            # Locked: an operator terminating the workflow meanwhile marks the batch failed, and this
            # transaction must not write "running" back over it.
            batch = await session.get(RegradeBatch, batch_id, with_for_update=True)
            assert batch is not None  # the API stores the batch before it starts the workflow
            scope = latest_in_scope(batch.cohort_id, batch.assignment_id).subquery()
            total = await session.scalar(select(func.count()).select_from(scope)) or 0
            batch.total = total
            if batch.status == BatchStatus.QUEUED:
                batch.status = BatchStatus.RUNNING
            batch.started_at = batch.started_at or datetime.now(UTC)
        return total

    @activity.defn
    async def fetch_regrade_page(self, req: PageRequest) -> Page:
        """One page of the scope by keyset on (assignment, student): never every id in one payload."""
        scope = (
            latest_in_scope(req.cohort_id, req.assignment_id)
            .where(
                tuple_(Submission.assignment_id, Submission.user_id)
                > tuple_(req.after_assignment, req.after_user)
            )
            .limit(req.limit)
        )
        async with self.sessions() as session:
            rows = (await session.execute(scope)).all()
        if not rows:
            return Page([], req.after_assignment, req.after_user, True)
        return Page(
            [str(r.id) for r in rows],
            rows[-1].assignment_id,
            rows[-1].user_id,
            len(rows) < req.limit,
            {str(r.id): r.language for r in rows if r.language != "python"},
        )

    @activity.defn
    async def regrade_chunk(self, req: ChunkRequest) -> ChunkResult:
        batch_id = uuid.UUID(req.batch_id)
        ids = [uuid.UUID(i) for i in req.submission_ids]
        async with self.sessions() as session:
            already = set(
                (
                    await session.execute(
                        select(GradingRun.submission_id).where(
                            GradingRun.regrade_batch_id == batch_id,
                            GradingRun.submission_id.in_(ids),
                        )
                    )
                ).scalars()
            )
            rows = (
                await session.execute(
                    select(Submission, Assignment)
                    .join(Assignment, Submission.assignment_id == Assignment.id)
                    .where(Submission.id.in_([i for i in ids if i not in already]))
                )
            ).all()
        result = ChunkResult()
        # Graded and not yet recorded; recorded RECORD_EVERY at a time as they come, so the batch's progress moves
        # while a chunk grades and a chunk retried after a crash finds those done (they hold their grading_run).
        pending: list[tuple[Submission, Assignment, Any, datetime, datetime]] = []
        graded_here = 0
        failure: SandboxError | None = None
        unrecorded: Exception | None = None
        attempt = activity.info().attempt
        held: str | None = None
        held_read = float("-inf")

        async def holding() -> str | None:
            """The instructor's hold on the batch, read at most every CONTROL_FRESH_SECONDS: a Redis round trip
            a submission was about a tenth of the worker's own Python in a warm regrade of C (py-spy)."""
            nonlocal held, held_read
            if time.monotonic() - held_read >= CONTROL_FRESH_SECONDS:
                held_read = time.monotonic()
                held = await self._control(batch_id)
            return held

        async def record_pending() -> None:
            group = pending[:]
            pending.clear()
            await self._record(req, batch_id, attempt, group, result)

        async def grade(sub: Submission, assignment: Assignment) -> None:
            nonlocal failure, graded_here, unrecorded
            async with self.slots:
                if failure or unrecorded or await holding():
                    result.not_done.append(str(sub.id))
                    return
                started = datetime.now(UTC)
                try:
                    graded = await self.sandbox.run_in_sandbox(
                        job_for(sub, assignment, nice=REGRADE_NICE)
                    )
                except SandboxError as exc:
                    failure = exc
                    result.not_done.append(str(sub.id))
                    return
                pending.append((sub, assignment, graded, started, datetime.now(UTC)))
                graded_here += 1
            if len(pending) >= RECORD_EVERY:
                try:
                    await record_pending()
                except Exception as exc:  # noqa: BLE001 - raised below, once the gradings under way end
                    # Those not recorded are graded again by the retry; nothing more is graded meanwhile.
                    unrecorded = unrecorded or exc

        gradings = [asyncio.ensure_future(grade(sub, assignment)) for sub, assignment in rows]
        try:
            waiting = set(gradings)
            while waiting:
                # Also while its gradings wait for a slot: the chunks before it hold them, and a chunk heartbeating
                # only as it graded was timed out and retried, over and over, behind chunks of slow programs.
                activity.heartbeat(graded_here)
                ended, waiting = await asyncio.wait(
                    waiting, timeout=HEARTBEAT_EVERY_SECONDS, return_when=asyncio.FIRST_EXCEPTION
                )
                for grading in ended:
                    grading.result()  # a fault that is not the sandbox's (the database's) fails the chunk
        finally:
            # The chunk failed or was cancelled: nothing of it goes on grading unseen
            for grading in gradings:
                grading.cancel()
        if unrecorded is not None:
            raise unrecorded
        if pending:
            await record_pending()
        if failure is not None:
            # Keep what was graded; the rest is retried (and, after the last attempt, counted as errors).
            raise ApplicationError(
                f"sandbox failed during a regrade: {failure}", type="SandboxError"
            )
        return result

    async def _record(
        self,
        req: ChunkRequest,
        batch_id: uuid.UUID,
        attempt: int,
        outcomes: list,
        result: ChunkResult,
    ) -> None:
        runs = []
        # Compiled languages: the compile's figures (a regrade of unchanged code finds it in the compile cache)
        compiled = {sub.id: graded.compile for sub, _, graded, _, _ in outcomes if graded.compile}
        for sub, assignment, graded, started, finished in outcomes:
            # Tests that fail to load grade nobody: the score stays, the run records why (an error of the batch).
            # Code that no longer compiles (the driver changed) grades nobody either: its score stays as it was.
            score = (
                (sub.score or 0.0)
                if graded.verdict == TEST_ERROR
                else sub.score
                if graded.verdict == Verdict.COMPILE_ERROR
                else score_of(graded.tests, sub.max_score, sub.credit)
            )
            runs.append(
                grading_run_row(
                    graded,
                    submission_id=sub.id,
                    batch_id=batch_id,
                    test_version=assignment.test_version,
                    score=score,
                    previous_score=sub.score,
                    max_score=sub.max_score,
                    workflow_id=req.workflow_id,
                    run_id=req.run_id,
                    attempt=attempt,
                    started_at=started,
                    finished_at=finished,
                )
            )
        async with self.sessions() as session, session.begin():
            inserted = set((await session.execute(INSERT_RUNS, runs)).scalars())
            recorded = [r for r in runs if r["submission_id"] in inserted]
            fresh = [r for r in recorded if r["verdict"] != TEST_ERROR]
            errors = len(recorded) - len(fresh)
            if errors:
                await count_done(session, batch_id, errors=errors)
                result.errors += errors
            if fresh:
                # Core executemany: one statement, many rows
                table = cast(Table, Submission.__table__)
                await session.execute(
                    update(table)
                    .where(table.c.id == bindparam("sid"))
                    .values(
                        score=bindparam("new_score"),
                        passed=bindparam("new_passed"),
                        verdict=bindparam("new_verdict"),
                        tests=bindparam("new_tests"),
                        details=bindparam("new_details"),
                        test_version=bindparam("new_version"),
                    ),
                    [
                        {
                            "sid": r["submission_id"],
                            "new_score": r["score"],
                            "new_passed": r["passed"],
                            "new_verdict": r["verdict"],
                            "new_tests": r["tests"],
                            "new_version": r["test_version"],
                            "new_details": {k: r[k] for k in DETAIL_FIELDS}
                            | (
                                {"compile": compiled[r["submission_id"]]}
                                if r["submission_id"] in compiled
                                else {}
                            ),
                        }
                        for r in fresh
                    ],
                )
                moved = sum(changed(r["previous_score"], r["score"]) for r in fresh)
                await count_done(session, batch_id, graded=len(fresh), changed=moved)
                result.graded += len(fresh)
                result.changed += moved
        if fresh:  # the status cache must not show the old score
            keys = [redis_keys.submission_status(str(r["submission_id"])) for r in fresh]
            await best_effort(self.redis.delete(*keys), "the regraded statuses")

    @activity.defn
    async def record_regrade_errors(self, failure: ChunkFailure) -> int:
        """After the last attempt: one grading_run per submission that could not be graded, verdict
        internal_error, score unchanged, so the batch still accounts for every submission exactly once."""
        batch_id = uuid.UUID(failure.batch_id)
        now = datetime.now(UTC)
        async with self.sessions() as session, session.begin():
            subs = (
                await session.execute(
                    select(Submission, Assignment.test_version)
                    .join(Assignment, Submission.assignment_id == Assignment.id)
                    .where(Submission.id.in_([uuid.UUID(i) for i in failure.submission_ids]))
                )
            ).all()
            if not subs:
                return 0
            inserted = (
                (
                    await session.execute(
                        insert(GradingRun)
                        .values(
                            [
                                dict(
                                    submission_id=s.id,
                                    regrade_batch_id=batch_id,
                                    test_version=version,
                                    verdict=Verdict.INTERNAL_ERROR,
                                    passed=bool(s.passed),
                                    score=s.score or 0.0,
                                    previous_score=s.score,
                                    max_score=s.max_score,
                                    tests=[],
                                    message=f"Not regraded: {failure.message}"[:2000],
                                    workflow_id=failure.workflow_id,
                                    run_id=failure.run_id,
                                    attempt=0,
                                    started_at=now,
                                    finished_at=now,
                                )
                                for s, version in subs
                            ]
                        )
                        .on_conflict_do_nothing(constraint="uq_grading_runs_submission_batch")
                        .returning(GradingRun.submission_id)
                    )
                )
                .scalars()
                .all()
            )
            await count_done(session, batch_id, errors=len(inserted))
        return len(inserted)

    @activity.defn
    async def finish_regrade(self, end: BatchEnd) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(RegradeBatch)
                .where(RegradeBatch.id == uuid.UUID(end.batch_id))
                .values(status=end.status, finished_at=datetime.now(UTC))
            )
        await best_effort(
            self.redis.delete(redis_keys.regrade_control(end.batch_id)), "the batch's control flag"
        )
