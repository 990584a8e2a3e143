"""Operators: find any grading's workflow, read its history as a timeline, see failed and stuck work, retry or
terminate it, and watch intake depth, throughput, latency and failure rate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from google.protobuf.json_format import MessageToDict
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Operator, RedisDep, SessionDep, SettingsDep, TemporalDep
from api.errors import TEMPORAL, ApiError, dependency_of, unavailable
from api.params import (
    AssignmentFilter,
    BatchFilter,
    CohortFilter,
    SubmissionFilter,
    Text,
    UserFilter,
    WorkflowId,
    uuid_of,
)
from api.routes.ops.history import timeline
from api.routes.ops.queries import (
    METRICS_SQL,
    failed_since,
    problem_submissions,
    regrades_by_language,
    stuck_gradings,
    visibility_query,
)
from api.routes.ops.schemas import (
    OpsHistory,
    OpsMetrics,
    OpsProblems,
    OpsWorkflow,
    TerminateRequest,
)
from api.schemas import STAFF, errors
from gradeflow import languages, redis_keys
from gradeflow.models import Assignment, Cohort, RegradeBatch, Submission
from gradeflow.redis_keys import best_effort
from gradeflow.vocabulary import (
    BATCH_ACTIVE,
    PENDING_STATUSES,
    BatchStatus,
    SubmissionStatus,
    WorkflowState,
)
from gradeflow.worker_languages import languages_served
from workflows.config import (
    grade_workflow_id,
)
from workflows.start import start_grading_workflow

router = APIRouter(prefix="/ops", tags=["ops"], responses=errors(*STAFF))
STUCK_AFTER = timedelta(minutes=5)


def ui_link(settings, workflow_id: str, run_id: str | None) -> str | None:
    if not settings.temporal_ui_url:
        return None
    tail = f"/{run_id}/history" if run_id else ""
    return f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}{tail}"


def workflow_out(w, settings) -> OpsWorkflow:
    attrs = {k.name: v for k, v in (w.typed_search_attributes or [])}
    return OpsWorkflow(
        workflow_id=w.id,
        run_id=w.run_id,
        type=w.workflow_type,
        status=WorkflowState[w.status.name] if w.status else "",
        start_time=w.start_time,
        close_time=w.close_time,
        search_attributes={k: str(v) for k, v in attrs.items()},
        temporal_ui=ui_link(settings, w.id, w.run_id),
    )


@router.get("/workflows", response_model=list[OpsWorkflow])
async def find_workflows(
    _: Operator,
    client: TemporalDep,
    settings: SettingsDep,
    submission_id: SubmissionFilter = None,
    user_id: UserFilter = None,
    assignment_id: AssignmentFilter = None,
    cohort: CohortFilter = None,
    batch_id: BatchFilter = None,
    status: Annotated[
        Text | None, Query(max_length=50, description=" | ".join(WorkflowState))
    ] = None,
    limit: int = Query(50, ge=1, le=500),
):
    """Workflows by submission, user, assignment, cohort, regrade batch or status, newest first."""
    if submission_id:
        uuid_of(submission_id, "submission")
    query = visibility_query(submission_id, user_id, assignment_id, cohort, batch_id, status)
    found = []
    async for w in client.list_workflows(query or None, limit=limit):
        found.append(workflow_out(w, settings))
    return found


@router.get("/workflows/{workflow_id}", response_model=OpsHistory, responses=errors(404))
async def workflow_history(
    workflow_id: WorkflowId,
    _: Operator,
    client: TemporalDep,
    settings: SettingsDep,
    run_id: uuid.UUID | None = Query(None, description="one run (default: the latest)"),
):
    """One workflow's history as a timeline, its pending activities (attempts, last failure) and a Web UI link."""
    handle = client.get_workflow_handle(workflow_id, run_id=str(run_id) if run_id else None)
    try:
        desc = await handle.describe()
        events = [e async for e in handle.fetch_history_events()]
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, f"No workflow {workflow_id} in Temporal.") from None
        raise temporal_refused(exc) from None
    pending = [
        {
            "activity": p.activity_type.name,
            "attempt": p.attempt,
            "state": MessageToDict(p).get("state", ""),
            "last_failure": p.last_failure.message or None,
            "last_heartbeat": p.last_heartbeat_time.ToDatetime(UTC)
            if p.HasField("last_heartbeat_time")
            else None,
        }
        for p in desc.raw_description.pending_activities
    ]
    return OpsHistory(
        workflow=workflow_out(desc, settings),
        events=timeline(events),
        pending_activities=pending,
        history_length=len(events),
    )


@router.get("/problems", response_model=OpsProblems)
async def problems(
    _: Operator,
    client: TemporalDep,
    settings: SettingsDep,
    session: SessionDep,
    redis: RedisDep,
    hours: int = Query(24, ge=1, le=24 * 30, description="failures this recent"),
    stuck_after_seconds: int = Query(
        int(STUCK_AFTER.total_seconds()),
        ge=0,
        le=30 * 24 * 3600,
        description="a grading running longer than this is stuck",
    ),
):
    """Failed workflows, gradings running too long, and submissions stuck or in error."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    stuck_before = datetime.now(UTC) - timedelta(seconds=stuck_after_seconds)
    failed = [
        workflow_out(w, settings)
        async for w in client.list_workflows(failed_since(since), limit=100)
    ]
    stuck = [
        workflow_out(w, settings)
        async for w in client.list_workflows(stuck_gradings(stuck_before), limit=100)
    ]
    rows = (await session.execute(problem_submissions(since, stuck_before))).all()
    pending = dict(
        (
            await session.execute(
                select(Assignment.language, func.count())
                .join(Submission, Submission.assignment_id == Assignment.id)
                .where(Submission.status.in_(PENDING_STATUSES))
                .group_by(Assignment.language)
            )
        ).all()
    )
    regrading = dict((await session.execute(regrades_by_language())).all())
    return OpsProblems(
        languages_waiting=waiting_languages(pending, await languages_served(redis), regrading),
        failed_workflows=failed,
        stuck_workflows=stuck,
        submissions=[
            {
                "id": str(r.id),
                "status": r.status,
                "error": r.error,
                "created_at": r.created_at,
                "workflow_id": grade_workflow_id(str(r.id)),
            }
            for r in rows
        ],
    )


def waiting_languages(
    pending: dict[str, int],
    served: dict[str, str] | None,
    regrading: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Languages with work waiting that no running worker grades, and why: submissions queued or grading, and
    regrades in progress whose scope holds the language; both wait on the language's own task queues until a
    worker with the toolchain starts. Nothing when Redis cannot say who serves what."""
    if served is None:
        return []
    regrading = regrading or {}
    return [
        {
            "language": name,
            "title": languages.get(name).title,
            "waiting": pending.get(name, 0),
            "regrades": regrading.get(name, 0),
            "why": "no running worker grades it (none has its toolchain); start one that has it "
            f"({languages.get(name).install_hint or 'see the README'})",
        }
        for name in sorted(set(pending) | set(regrading))
        if (pending.get(name) or regrading.get(name)) and name not in served
    ]


def temporal_refused(exc: RPCError, what: str = "") -> ApiError:
    """Temporal said no: the request's fault (422) when Temporal found an argument invalid, else unavailable."""
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return ApiError(422, f"Temporal refused the request: {exc.message}.")
    return unavailable(TEMPORAL, f"{what}: {exc.status.name}" if what else exc.status.name)


def submission_of(workflow_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(workflow_id.removeprefix("grade-"))
    except ValueError:
        raise ApiError(
            422,
            f"Only grading workflows (grade-<submission id>) can be retried, not '{workflow_id}'.",
        ) from None


@router.post(
    "/workflows/{workflow_id}/retry", response_model=OpsWorkflow, responses=errors(404, 409)
)
async def retry(
    workflow_id: WorkflowId,
    _: Operator,
    client: TemporalDep,
    settings: SettingsDep,
    session: SessionDep,
    redis: RedisDep,
    regrade: bool = Query(
        False, description="grade it again even though its last grading finished normally"
    ),
):
    """Grade the submission again in a new run of the same workflow id: after a failed, timed-out or terminated
    workflow, or a grading that ended in error. A running one must be terminated first. A submission whose last
    grading finished normally is refused (409) unless `regrade=true`."""
    sub_id = submission_of(workflow_id)
    row = (
        await session.execute(
            select(Submission, Cohort.slug, Assignment.language)
            .join(Assignment, Submission.assignment_id == Assignment.id)
            .outerjoin(Cohort, Submission.cohort_id == Cohort.id)
            .where(Submission.id == sub_id)
        )
    ).first()
    if row is None:
        raise ApiError(404, f"Submission {sub_id} does not exist.")
    sub, cohort, language = row
    if sub.status == SubmissionStatus.GRADED and not regrade:
        raise ApiError(
            409,
            f"Submission {sub_id} was graded normally ({sub.verdict}, score "
            f"{'none' if sub.score is None else f'{sub.score:g}'}); retry is "
            "for failed or stuck work. To grade it again anyway, add ?regrade=true.",
            verdict=sub.verdict,
        )
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
        if desc.status == WorkflowExecutionStatus.RUNNING:
            raise ApiError(
                409, f"{workflow_id} is still running; terminate it first if it is stuck."
            )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise temporal_refused(exc) from None
    before = (sub.status, sub.error)
    sub.status, sub.error = SubmissionStatus.QUEUED, None
    try:
        await session.commit()
    except IntegrityError:  # the one-pending-submission-per-student rule
        await session.rollback()
        raise ApiError(
            409, "The student has another submission pending; retry this one when it is done."
        ) from None
    # Retry starts the submission over: its cached status goes (PostgreSQL says queued now; if Redis is down, a
    # reader of the old status is corrected by PostgreSQL, which holds a later one once the grading moves on).
    await best_effort(redis.delete(redis_keys.submission_status(str(sub_id))), "the retried status")
    try:
        handle = await start_grading_workflow(
            client,
            str(sub_id),
            str(sub.assignment_id),
            str(sub.user_id),
            cohort or "",
            again=True,
            language=language,
        )
    except WorkflowAlreadyStartedError:
        raise ApiError(
            409, f"{workflow_id} was started again a moment ago (another retry); watch that run."
        ) from None
    except RPCError as exc:  # nothing started: put the submission back as it was
        sub.status, sub.error = before
        await session.commit()
        raise temporal_refused(exc, "could not start the retry") from None
    return workflow_out(await handle.describe(), settings)


@router.post(
    "/workflows/{workflow_id}/terminate", response_model=OpsWorkflow, responses=errors(404, 409)
)
async def terminate(
    workflow_id: WorkflowId,
    body: TerminateRequest,
    _: Operator,
    client: TemporalDep,
    settings: SettingsDep,
    session: SessionDep,
):
    """Stop a stuck workflow now. A grading's submission can then be retried; a regrade's batch ends `failed`
    (what it graded stays recorded)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        await handle.terminate(reason=body.reason)
        await session.execute(
            update(RegradeBatch)
            .where(RegradeBatch.workflow_id == workflow_id, RegradeBatch.status.in_(BATCH_ACTIVE))
            .values(status=BatchStatus.FAILED, finished_at=func.now())
        )
        await session.commit()
        return workflow_out(await handle.describe(), settings)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, f"No running workflow {workflow_id} in Temporal.") from None
        if dependency_of(exc) == TEMPORAL:
            raise unavailable(TEMPORAL, exc.status.name) from None
        raise ApiError(409, f"Could not terminate {workflow_id}: {exc.message}") from None


@router.get("/metrics", response_model=OpsMetrics)
async def metrics(
    _: Operator, session: SessionDep, redis: RedisDep, minutes: int = Query(60, ge=1, le=24 * 60)
):
    """Per minute over the last `minutes`: intake queue depth, gradings, failures, p50/p95 submit-to-result
    seconds (live submissions; cached answers excluded). Plus the intake stream's current length."""
    rows = (await session.execute(METRICS_SQL, {"minutes": minutes})).all()
    stream = await best_effort(redis.xlen(redis_keys.INTAKE_STREAM), "the intake stream's length")
    series = [
        {
            "minute": r.minute,
            "queue_depth": r.queue_depth,
            "graded": r.graded,
            "failed": r.failed,
            "failure_rate": (r.failed / r.graded) if r.graded else 0.0,
            "p50_seconds": r.p50,
            "p95_seconds": r.p95,
        }
        for r in rows
    ]
    return OpsMetrics(minutes=minutes, intake_stream_length=stream, series=series)
