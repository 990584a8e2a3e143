"""Operators: find any grading's workflow, read its history as a timeline, see failed and stuck work, retry or
terminate it, and watch intake depth, throughput, latency and failure rate."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from google.protobuf.json_format import MessageToDict
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Principal, RedisDep, SessionDep, SettingsDep, TemporalDep, require_role
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
from api.schemas import (
    STAFF,
    OpsHistory,
    OpsMetrics,
    OpsProblems,
    OpsWorkflow,
    TerminateRequest,
    errors,
)
from gradeflow import redis_keys
from gradeflow.models import Cohort, RegradeBatch, Submission
from gradeflow.redis_keys import best_effort
from gradeflow.vocabulary import BATCH_ACTIVE, BatchStatus, Role, SubmissionStatus
from workflows.config import (
    ASSIGNMENT_KEY,
    COHORT_KEY,
    REGRADE_BATCH_KEY,
    USER_KEY,
    grade_workflow_id,
)
from workflows.start import start_grading

router = APIRouter(prefix="/ops", tags=["ops"], responses=errors(*STAFF))
Operator = Annotated[Principal, require_role(Role.OPERATOR)]
STATUSES = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "terminated": "Terminated",
    "timed_out": "TimedOut",
    "cancelled": "Canceled",
    "continued_as_new": "ContinuedAsNew",
}
STUCK_AFTER = timedelta(minutes=5)
LOCAL_ACTIVITY_MARKER = (
    "core_local_activity"  # the marker name Temporal's SDKs record a local activity under
)


def ui_link(settings, workflow_id: str, run_id: str | None) -> str | None:
    if not settings.temporal_ui_url:
        return None
    tail = f"/{run_id}/history" if run_id else ""
    return f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}{tail}"


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def visibility_query(
    submission_id: str | None,
    user_id: int | None,
    assignment_id: int | None,
    cohort: str | None,
    batch_id: str | None,
    status: str | None,
) -> str:
    clauses = []
    if submission_id:
        clauses.append(f"WorkflowId = {_quote(grade_workflow_id(submission_id))}")
    for key, value in (
        (USER_KEY, user_id),
        (ASSIGNMENT_KEY, assignment_id),
        (COHORT_KEY, cohort),
        (REGRADE_BATCH_KEY, batch_id),
    ):
        if value is not None and value != "":
            clauses.append(f"{key.name} = {_quote(str(value))}")
    if status:
        if status not in STATUSES:
            raise ApiError(422, f"status must be one of {', '.join(STATUSES)}, not '{status}'.")
        clauses.append(f"ExecutionStatus = {_quote(STATUSES[status])}")
    return " AND ".join(clauses)


def workflow_out(w, settings) -> OpsWorkflow:
    attrs = {k.name: v for k, v in (w.typed_search_attributes or [])}
    return OpsWorkflow(
        workflow_id=w.id,
        run_id=w.run_id,
        type=w.workflow_type,
        status=w.status.name.lower() if w.status else "",
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
    status: Annotated[Text | None, Query(max_length=50, description=" | ".join(STATUSES))] = None,
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


def _name(event_type: EventType.ValueType) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_").lower()


def timeline(events: list) -> list[dict[str, Any]]:
    """Events in words: what happened, to which activity, which attempt, how long it took, why it failed."""
    scheduled: dict[int, dict[str, Any]] = {}
    started: dict[int, datetime] = {}
    rows = []
    first = events[0].event_time.ToDatetime(UTC) if events else None
    for e in events:
        at = e.event_time.ToDatetime(UTC)
        row: dict[str, Any] = {
            "event_id": e.event_id,
            "time": at,
            "type": _name(e.event_type),
            "offset_ms": int((at - first).total_seconds() * 1000) if first else 0,
        }
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            scheduled[e.event_id] = {"activity": a.activity_type.name, "at": at}
            row["activity"] = a.activity_type.name
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = e.activity_task_started_event_attributes
            info = scheduled.get(a.scheduled_event_id, {})
            started[a.scheduled_event_id] = at
            row.update(
                activity=info.get("activity"),
                attempt=a.attempt,
                waited_ms=int((at - info["at"]).total_seconds() * 1000) if info else None,
            )
            if a.attempt > 1 and a.last_failure.message:
                row["failure"] = f"previous attempt failed: {a.last_failure.message}"
        elif e.event_type in (
            EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        ):
            attrs = (
                e.activity_task_completed_event_attributes
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                else e.activity_task_failed_event_attributes
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
                else e.activity_task_timed_out_event_attributes
            )
            info = scheduled.get(attrs.scheduled_event_id, {})
            row["activity"] = info.get("activity")
            if attrs.scheduled_event_id in started:
                row["duration_ms"] = int(
                    (at - started[attrs.scheduled_event_id]).total_seconds() * 1000
                )
            if (
                e.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                and attrs.failure.message
            ):
                row["failure"] = attrs.failure.message
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            row.update(local_activity_row(e.marker_recorded_event_attributes))
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            row["failure"] = e.workflow_execution_failed_event_attributes.failure.message
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            row["failure"] = (
                f"terminated: {e.workflow_execution_terminated_event_attributes.reason}"
            )
        rows.append(row)
    return rows


def local_activity_row(marker) -> dict[str, Any]:
    """A local activity's marker in words: which activity, its attempt, how long it took, why it failed. (Gradings
    run as local activities: their markers are what the history keeps of them.)"""
    if marker.marker_name != LOCAL_ACTIVITY_MARKER:
        return {"type": "marker", "detail": marker.marker_name}
    try:
        data = json.loads(marker.details["data"].payloads[0].data)
    except (KeyError, IndexError, ValueError):
        return {"type": "local_activity"}
    row: dict[str, Any] = {
        "type": "local_activity",
        "activity": data.get("activity_type"),
        "attempt": data.get("attempt"),
    }
    # The marker's own times are the workflow's clock, not the activity's: a grading's result carries its own.
    try:
        result = json.loads(marker.details["result"].payloads[0].data)
        row["duration_ms"] = int(
            (
                datetime.fromisoformat(result["finished_at"])
                - datetime.fromisoformat(result["started_at"])
            ).total_seconds()
            * 1000
        )
    except (KeyError, IndexError, ValueError, TypeError):
        pass
    if marker.HasField("failure") and marker.failure.message:
        row["failure"] = marker.failure.message
    return row


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
    hours: int = Query(24, ge=1, le=24 * 30, description="failures this recent"),
    stuck_after_seconds: int = Query(
        int(STUCK_AFTER.total_seconds()),
        ge=0,
        le=30 * 24 * 3600,
        description="a grading running longer than this is stuck",
    ),
):
    """Failed workflows, gradings running too long, and submissions stuck or in error."""
    stuck_for = timedelta(seconds=stuck_after_seconds)
    since = (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stuck_before = (datetime.now(UTC) - stuck_for).strftime("%Y-%m-%dT%H:%M:%SZ")
    failed = [
        workflow_out(w, settings)
        async for w in client.list_workflows(
            f"ExecutionStatus IN ('Failed', 'TimedOut', 'Terminated') AND StartTime > '{since}'",
            limit=100,
        )
    ]
    stuck = [
        workflow_out(w, settings)
        async for w in client.list_workflows(
            f"ExecutionStatus = 'Running' AND WorkflowType = 'GradeSubmission' AND StartTime < '{stuck_before}'",
            limit=100,
        )
    ]
    rows = (
        await session.execute(
            text(
                "SELECT id, status, error, created_at FROM submissions WHERE (status = 'error' AND created_at > :since) "
                "OR (status IN ('queued', 'grading') AND created_at < :stuck) ORDER BY created_at DESC LIMIT 200"
            ),
            {
                "since": datetime.now(UTC) - timedelta(hours=hours),
                "stuck": datetime.now(UTC) - stuck_for,
            },
        )
    ).all()
    return OpsProblems(
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
            select(Submission, Cohort.slug)
            .outerjoin(Cohort, Submission.cohort_id == Cohort.id)
            .where(Submission.id == sub_id)
        )
    ).first()
    if row is None:
        raise ApiError(404, f"Submission {sub_id} does not exist.")
    sub, cohort = row
    if sub.status == SubmissionStatus.GRADED and not regrade:
        raise ApiError(
            409,
            f"Submission {sub_id} was graded normally ({sub.verdict}, score {sub.score:g}); retry is "
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
        handle = await start_grading(
            client, str(sub_id), str(sub.assignment_id), str(sub.user_id), cohort or "", again=True
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


METRICS_SQL = text("""
WITH minutes AS (
    SELECT generate_series(date_trunc('minute', now()) - make_interval(mins => :minutes - 1),
                           date_trunc('minute', now()), interval '1 minute') AS minute
), live AS (
    SELECT created_at, graded_at, status FROM submissions
    WHERE NOT cached AND (graded_at IS NULL OR graded_at > now() - make_interval(mins => :minutes + 1))
      AND created_at > now() - make_interval(mins => :minutes + 60)
)
SELECT m.minute,
  (SELECT count(*) FROM live WHERE created_at <= m.minute + interval '1 minute'
     AND (graded_at IS NULL OR graded_at > m.minute + interval '1 minute')) AS queue_depth,
  (SELECT count(*) FROM live WHERE graded_at >= m.minute AND graded_at < m.minute + interval '1 minute') AS graded,
  (SELECT count(*) FROM live WHERE status = 'error' AND graded_at >= m.minute
     AND graded_at < m.minute + interval '1 minute') AS failed,
  (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM graded_at - created_at)) FROM live
     WHERE graded_at >= m.minute AND graded_at < m.minute + interval '1 minute') AS p50,
  (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM graded_at - created_at)) FROM live
     WHERE graded_at >= m.minute AND graded_at < m.minute + interval '1 minute') AS p95
FROM minutes m ORDER BY m.minute
""")


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
