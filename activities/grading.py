"""Grading activities: run a submission in the sandbox, record the result in PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from gradeflow import redis_keys
from gradeflow.db import Prepared, driver_connection, make_sessionmaker
from gradeflow.models import TEST_ERROR, TESTS_BROKEN, Assignment, GradingRun, Submission
from gradeflow.policy import graded_score
from gradeflow.status_cache import Doubt, stamped, write_forward
from gradeflow.views import submission_payload
from gradeflow.vocabulary import FINAL_STATUSES, SubmissionStatus, Verdict
from sandbox import Sandbox, SandboxError, SandboxJob

log = logging.getLogger(__name__)
# How often a grading that runs as a regular activity heartbeats: well inside its heartbeat timeout
# (workflows.config.GRADE_HEARTBEAT, 5 s).
HEARTBEAT_EVERY_SECONDS = 1.0


@dataclass
class GradingRequest:
    """A live grading (regrades grade in chunks: activities.regrade)."""

    submission_id: str


@dataclass
class GradingOutcome:
    submission_id: str
    test_version: str
    verdict: str
    passed: bool
    score: float | None  # None: the verdict grades nobody (a compile error, broken tests)
    max_score: float
    tests: list[dict[str, Any]]
    message: str
    sandbox: str
    stdout: str
    stderr: str
    cpu_ms: int
    wall_ms: int
    peak_memory_kb: int
    attempt: int
    started_at: str
    finished_at: str
    # Compiled languages: the compile step's figures, and the limits that applied (the language's time factor)
    compile: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)


@dataclass
class CompileOutcome:
    """The compile step of a grading in a compiled language: what the workflow history shows of it."""

    submission_id: str
    ok: bool
    cached: bool
    ms: int
    message: str  # the compiler's first diagnostics, when it refused the code


@dataclass
class RecordRequest:
    outcome: GradingOutcome
    workflow_id: str
    run_id: str
    # The compile step of this grading, if it had one: what is recorded of the compile (the grading step itself
    # found the program in the compile cache)
    compiled: CompileOutcome | None = None


@dataclass
class GradingFailure:
    submission_id: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SolutionCheck:
    code: str
    test_code: str
    io_cases: list[dict[str, Any]]
    limits: dict[str, Any]
    language: str = "python"
    function_tests: list[dict[str, Any]] = field(default_factory=list)
    language_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SolutionCheckResult:
    verdict: str
    passed: bool
    message: str
    tests: list[dict[str, Any]]


# What a submission keeps of its latest grading besides the verdict and tests (its `details` column).
DETAIL_FIELDS = ("message", "stdout", "stderr", "cpu_ms", "wall_ms", "peak_memory_kb", "sandbox")


def grading_run_row(
    graded: Any,
    *,
    submission_id: uuid.UUID,
    batch_id: uuid.UUID | None,
    test_version: str,
    score: float | None,
    max_score: float,
    workflow_id: str,
    run_id: str,
    attempt: int,
    started_at: datetime,
    finished_at: datetime,
    previous_score: float | None = None,
) -> dict[str, Any]:
    """A grading_runs row: what one run of the judge decided for a submission (`graded`: its verdict, passed,
    tests and details), by which workflow run; `batch_id` None for a live grading (the submission's first
    run)."""
    return dict(
        submission_id=submission_id,
        regrade_batch_id=batch_id,
        test_version=test_version,
        verdict=graded.verdict,
        passed=graded.passed,
        score=score,
        previous_score=previous_score,
        max_score=max_score,
        tests=graded.tests,
        **{k: getattr(graded, k) for k in DETAIL_FIELDS},
        workflow_id=workflow_id,
        run_id=run_id,
        attempt=attempt,
        started_at=started_at,
        finished_at=finished_at,
    )


def job_for(
    sub: Submission, assignment: Assignment, nice: int = 0, op: str = "grade"
) -> SandboxJob:
    """The sandbox job that grades a submission against its assignment's current tests and limits (or, `op`
    "compile", only compiles it: the compile cache keeps what it made for the grading that follows)."""
    return SandboxJob(
        code=sub.code,
        test_code=assignment.test_code,
        io_cases=list(assignment.io_cases or []),
        limits=dict(assignment.limits),
        nice=nice,
        language=assignment.language,
        language_options=dict(assignment.language_options or {}),
        function_tests=list(assignment.function_tests or []),
        op=op,
    )


def report_finished(sub: Submission) -> None:
    """Log a finished live grading (with its ids) and count it in the metrics (when the worker serves them)."""
    extra = {
        "submission_id": str(sub.id),
        "user_id": sub.user_id,
        "assignment_id": sub.assignment_id,
        "status": sub.status,
        "verdict": sub.verdict,
    }
    if sub.status == SubmissionStatus.ERROR:
        activity.logger.warning("submission %s: grading failed: %s", sub.id, sub.error, extra=extra)
    else:
        activity.logger.info("submission %s graded: %s", sub.id, sub.verdict, extra=extra)
    meter = activity.metric_meter()
    meter.create_counter("gradeflow_gradings", "Live gradings finished, by status and verdict").add(
        1, {"status": sub.status, "verdict": sub.verdict or ""}
    )
    if sub.graded_at and sub.created_at:
        meter.create_histogram_float(
            "gradeflow_submit_to_result_seconds",
            "Seconds from a submission's arrival to its result",
        ).record(max((sub.graded_at - sub.created_at).total_seconds(), 0.0))


def report_compile(language: str, compiled: dict[str, Any]) -> None:
    """Count a compile step in the metrics: by language, whether the cache had it, and whether it compiled."""
    activity.metric_meter().create_counter(
        "gradeflow_compiles", "Compile steps, by language; cached: answered by the compile cache"
    ).add(
        1,
        {
            "language": language,
            "cached": str(bool(compiled.get("cached"))).lower(),
            "ok": str(bool(compiled.get("ok"))).lower(),
        },
    )


# A live grading's two statements, claim and record, run on asyncpg's own connection (gradeflow.db Prepared):
# through SQLAlchemy's ORM they cost the worker more CPU than everything else it did for a grading but the
# sandbox (py-spy in a rush: a quarter of its main thread; the claim 1.7 -> 0.6 ms, measured). Their columns come
# from the models, so they cannot drift from them.
SUBMISSION_COLUMNS = tuple(attr.key for attr in Submission.__mapper__.column_attrs)
# What grading needs of an assignment (job_for, the outcome's test version)
GRADED_BY = (
    "id",
    "language",
    "test_code",
    "io_cases",
    "limits",
    "function_tests",
    "language_options",
    "test_version",
)
# One round trip: the submission with its assignment, and a queued submission becomes `grading` (only a queued one:
# a status never goes back). The select sees the row as it was before the update, so `claimed` says which it was.
CLAIM = Prepared(
    text(f"""
WITH claimed AS (
    UPDATE submissions SET status = :grading WHERE id = :id AND status = :queued RETURNING id
)
SELECT {", ".join(f"s.{c}" for c in SUBMISSION_COLUMNS)},
       {", ".join(f"a.{c} AS a_{c}" for c in GRADED_BY)},
       EXISTS (SELECT 1 FROM claimed) AS claimed
FROM submissions s JOIN assignments a ON a.id = s.assignment_id
WHERE s.id = :id
""").bindparams(grading=SubmissionStatus.GRADING, queued=SubmissionStatus.QUEUED)
)
# grading_run_row's columns, in its order (named by the models' attributes: a column, not a verdict or a status)
_RUN = GradingRun
RUN_COLUMNS = (
    *(c.key for c in (_RUN.submission_id, _RUN.regrade_batch_id, _RUN.test_version, _RUN.verdict)),
    *(c.key for c in (_RUN.passed, _RUN.score, _RUN.previous_score, _RUN.max_score, _RUN.tests)),
    *DETAIL_FIELDS,
    *(
        c.key
        for c in (_RUN.workflow_id, _RUN.run_id, _RUN.attempt, _RUN.started_at, _RUN.finished_at)
    ),
)
RECORDED = tuple(
    c.key
    for c in (
        Submission.status,
        Submission.passed,
        Submission.score,
        Submission.verdict,
        Submission.tests,
        Submission.details,
        Submission.test_version,
        Submission.error,
        Submission.graded_at,
    )
)
# One statement, so one round trip and atomic: the grading run (once per submission and batch) and the
# submission's new result.
RECORD = Prepared(
    text(f"""
WITH grading_run AS (
    INSERT INTO grading_runs ({", ".join(RUN_COLUMNS)})
    VALUES ({", ".join(f":run_{c}" for c in RUN_COLUMNS)})
    ON CONFLICT ON CONSTRAINT uq_grading_runs_submission_batch DO NOTHING
)
UPDATE submissions SET {", ".join(f"{c} = :{c}" for c in RECORDED)}
WHERE id = :id
RETURNING {", ".join(SUBMISSION_COLUMNS)}
""")
)
JSONB_COLUMNS = frozenset({"tests", "details"})


def with_json_text(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the jsonb ones as JSON text (the driver's codec takes text)."""
    return {
        c: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode() if c in JSONB_COLUMNS else v
        for c, v in values.items()
    }


def no_such_submission(sub_id: uuid.UUID) -> ApplicationError:
    return ApplicationError(
        f"submission {sub_id} does not exist", type="SubmissionNotFound", non_retryable=True
    )


class GradingActivities:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis,
        sandbox: Sandbox,
        concurrency: int,
        on_finished: Callable[[str], None] | None = None,
        doubt: Doubt | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = make_sessionmaker(engine)
        self.doubt = doubt
        self.redis = redis
        self.sandbox = sandbox
        # Gradings run as local activities, whose slots also serve the quick recording steps: the sandboxes one
        # worker runs at once are bounded here instead.
        self.sandboxes = asyncio.Semaphore(concurrency)
        # Tells the intake dispatcher that a live grading it started is over, so it may start another.
        self.on_finished = on_finished or (lambda submission_id: None)

    async def _publish(self, sub: Submission) -> None:
        """Best effort: Redis is a cache, PostgreSQL already holds the truth."""
        encoded = orjson.dumps(stamped(submission_payload(sub)))
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                await write_forward(pipe, {"id": str(sub.id), "status": sub.status}, encoded)
                if sub.status in FINAL_STATUSES:  # the drain rate, for the API's Retry-After
                    pipe.incr(redis_keys.GRADINGS_FINISHED)
                # The whole submission, so a page following it over server-sent events needs no second read.
                pipe.publish(redis_keys.EVENTS_CHANNEL, encoded)
                await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - best effort, as above: never fails the recording
            log.warning("redis update for submission %s failed: %s", sub.id, exc)
            # Readers check Redis's pending statuses against PostgreSQL from now on
            if self.doubt is not None:
                try:
                    await self.doubt.cover(time.time(), wait=False)
                except Exception as again:  # noqa: BLE001 - the API records it when it shows this status
                    log.warning("could not record the status cache's doubt: %s", again)

    async def _claim(self, sub_id: uuid.UUID) -> tuple[Submission, Assignment]:
        """The submission and its assignment; a queued submission becomes `grading` (published)."""
        async with driver_connection(self.engine) as conn:
            row = await CLAIM.first(conn, {"id": sub_id})
        if row is None:
            raise no_such_submission(sub_id)
        found = vars(row)
        sub = Submission(**{c: found[c] for c in SUBMISSION_COLUMNS})
        assignment = Assignment(**{c: found[f"a_{c}"] for c in GRADED_BY})
        if row.claimed:
            sub.status = SubmissionStatus.GRADING
            await self._publish(sub)
        return sub, assignment

    @activity.defn
    async def compile_submission(self, req: GradingRequest) -> CompileOutcome:
        """Compile a submission in its own sandboxed run (or find it in the compile cache): the grading step
        that follows runs what this made, or reports the compile error it cached."""
        sub, assignment = await self._claim(uuid.UUID(req.submission_id))
        result = await self._heartbeating(job_for(sub, assignment, op="compile"))
        compiled = result.compile
        report_compile(assignment.language, compiled)
        return CompileOutcome(
            req.submission_id,
            bool(compiled.get("ok")),
            bool(compiled.get("cached")),
            int(compiled.get("ms", 0)),
            result.message,
        )

    @activity.defn
    async def grade_submission(self, req: GradingRequest) -> GradingOutcome:
        sub, assignment = await self._claim(uuid.UUID(req.submission_id))
        started_at = datetime.now(UTC)
        result = await self._heartbeating(job_for(sub, assignment))
        finished_at = datetime.now(UTC)
        return GradingOutcome(
            submission_id=req.submission_id,
            test_version=assignment.test_version,
            verdict=result.verdict,
            passed=result.passed,
            score=graded_score(result.verdict, result.tests, sub.max_score, sub.credit),
            max_score=sub.max_score,
            tests=result.tests,
            message=result.message,
            sandbox=result.sandbox,
            stdout=result.stdout,
            stderr=result.stderr,
            cpu_ms=result.cpu_ms,
            wall_ms=result.wall_ms,
            peak_memory_kb=result.peak_memory_kb,
            attempt=activity.info().attempt,
            started_at=started_at.isoformat(),
            finished_at=finished_at.isoformat(),
            compile=result.compile,
            limits=result.limits,
        )

    async def _heartbeating(self, job: SandboxJob):
        grading = asyncio.create_task(self._bounded(job))
        while not grading.done():  # also while waiting for a sandbox: that wait can be long
            # A local activity is watched through its workflow task
            if not activity.info().is_local:
                activity.heartbeat()
            await asyncio.wait({grading}, timeout=HEARTBEAT_EVERY_SECONDS)
        try:
            return grading.result()
        except SandboxError as exc:
            raise ApplicationError(str(exc), type="SandboxError") from exc

    async def _bounded(self, job: SandboxJob):
        async with self.sandboxes:
            return await self.sandbox.run_in_sandbox(job)

    @activity.defn
    async def check_solution(self, check: SolutionCheck) -> SolutionCheckResult:
        """Grade a reference solution against draft tests (nothing is stored)."""
        result = await self._heartbeating(
            SandboxJob(
                code=check.code,
                test_code=check.test_code,
                io_cases=check.io_cases,
                limits=check.limits,
                language=check.language,
                function_tests=check.function_tests,
                language_options=check.language_options,
            )
        )
        return SolutionCheckResult(result.verdict, result.passed, result.message, result.tests)

    @activity.defn
    async def record_grading(self, req: RecordRequest) -> None:
        out = req.outcome
        sub_id = uuid.UUID(out.submission_id)
        tests = out.tests
        details = {k: getattr(out, k) for k in DETAIL_FIELDS}
        details |= {k: v for k, v in (("compile", out.compile), ("limits", out.limits)) if v}
        if req.compiled is not None:
            details["compile"] = {
                "cached": req.compiled.cached,
                "ms": req.compiled.ms,
                "ok": req.compiled.ok,
            }
        finished_at = datetime.fromisoformat(out.finished_at)
        run = grading_run_row(
            out,
            submission_id=sub_id,
            batch_id=None,
            test_version=out.test_version,
            score=out.score,
            max_score=out.max_score,
            workflow_id=req.workflow_id,
            run_id=req.run_id,
            attempt=out.attempt,
            started_at=datetime.fromisoformat(out.started_at),
            finished_at=finished_at,
        )
        # The tests failed to load: not graded, and not the student's doing (a compile error is graded: the
        # student sees it, with no score)
        broken = out.verdict == TEST_ERROR
        recorded = {
            "status": SubmissionStatus.ERROR if broken else SubmissionStatus.GRADED,
            "passed": None if broken else out.passed,
            "score": None if broken else out.score,
            "verdict": out.verdict,
            "tests": tests,
            "details": details,
            "test_version": out.test_version,
            "error": TESTS_BROKEN if broken else None,
            "graded_at": finished_at,
        }
        params = {f"run_{c}": v for c, v in with_json_text(run).items()}
        async with driver_connection(self.engine) as conn:
            row = await RECORD.first(conn, {"id": sub_id, **params, **with_json_text(recorded)})
        if row is None:
            raise no_such_submission(sub_id)
        sub = Submission(**vars(row))
        if broken:
            activity.logger.warning(
                "assignment %s: its tests fail to load: %s",
                sub.assignment_id,
                out.message,
                extra={"assignment_id": sub.assignment_id, "submission_id": str(sub.id)},
            )
        await self._publish(sub)
        report_finished(sub)
        self.on_finished(out.submission_id)

    @activity.defn
    async def record_grading_failure(self, req: GradingFailure) -> None:
        async with self.sessions() as session, session.begin():
            sub = (
                await session.execute(
                    update(Submission)
                    .where(Submission.id == uuid.UUID(req.submission_id))
                    .values(
                        status=SubmissionStatus.ERROR,
                        verdict=Verdict.INTERNAL_ERROR,
                        error=f"Grading failed after retries: {req.message}",
                        graded_at=datetime.now(UTC),
                    )
                    .returning(Submission)
                )
            ).scalar_one_or_none()
        if sub is not None:
            await self._publish(sub)
            report_finished(sub)
        self.on_finished(req.submission_id)
