"""What the operator's pages ask: Temporal's visibility queries (which workflows) and PostgreSQL's (which
submissions are in trouble, the per-minute metrics)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Select, and_, func, or_, select, text

from api.errors import ApiError
from gradeflow.models import Assignment, Offering, RegradeBatch, Submission
from gradeflow.vocabulary import (
    BATCH_ACTIVE,
    PENDING_STATUSES,
    TEMPORAL_STATUS,
    WORKFLOW_FAILED,
    SubmissionStatus,
    WorkflowState,
)
from workflows.config import (
    ASSIGNMENT_KEY,
    COHORT_KEY,
    REGRADE_BATCH_KEY,
    USER_KEY,
    grade_workflow_id,
)


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
        if status not in TEMPORAL_STATUS:
            raise ApiError(
                422, f"status must be one of {', '.join(TEMPORAL_STATUS)}, not '{status}'."
            )
        clauses.append(f"ExecutionStatus = {_quote(TEMPORAL_STATUS[WorkflowState(status)])}")
    return " AND ".join(clauses)


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def failed_since(since: datetime) -> str:
    """Workflows started after `since` that failed, timed out or were terminated."""
    statuses = ", ".join(_quote(TEMPORAL_STATUS[s]) for s in WORKFLOW_FAILED)
    return f"ExecutionStatus IN ({statuses}) AND StartTime > '{_at(since)}'"


def stuck_gradings(started_before: datetime) -> str:
    """Gradings still running that started before `started_before`."""
    return (
        f"ExecutionStatus = {_quote(TEMPORAL_STATUS[WorkflowState.RUNNING])} "
        f"AND WorkflowType = 'GradeSubmission' AND StartTime < '{_at(started_before)}'"
    )


def problem_submissions(since: datetime, stuck_before: datetime) -> Select:
    """Submissions in error since `since`, and those still pending that arrived before `stuck_before`."""
    return (
        select(Submission.id, Submission.status, Submission.error, Submission.created_at)
        .where(
            or_(
                and_(Submission.status == SubmissionStatus.ERROR, Submission.created_at > since),
                and_(Submission.status.in_(PENDING_STATUSES), Submission.created_at < stuck_before),
            )
        )
        .order_by(Submission.created_at.desc())
        .limit(200)
    )


# Per minute: the intake queue's depth, gradings, failures, p50/p95 submit-to-result seconds
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
  (SELECT count(*) FROM live WHERE status = :error AND graded_at >= m.minute
     AND graded_at < m.minute + interval '1 minute') AS failed,
  (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM graded_at - created_at)) FROM live
     WHERE graded_at >= m.minute AND graded_at < m.minute + interval '1 minute') AS p50,
  (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM graded_at - created_at)) FROM live
     WHERE graded_at >= m.minute AND graded_at < m.minute + interval '1 minute') AS p95
FROM minutes m ORDER BY m.minute
""").bindparams(error=SubmissionStatus.ERROR)


def regrades_by_language() -> Select:
    """(language, regrades in progress whose scope holds it): the batch's assignment, or every assignment offered
    to its cohort."""
    in_scope = or_(
        Assignment.id == RegradeBatch.assignment_id,
        and_(
            RegradeBatch.assignment_id.is_(None),
            Assignment.id.in_(
                select(Offering.assignment_id).where(Offering.cohort_id == RegradeBatch.cohort_id)
            ),
        ),
    )
    return (
        select(Assignment.language, func.count(func.distinct(RegradeBatch.id)))
        .join(Assignment, in_scope)
        .where(RegradeBatch.status.in_(BATCH_ACTIVE))
        .group_by(Assignment.language)
    )
