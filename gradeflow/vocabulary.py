"""GradeFlow's words, declared once: who someone is, where a submission or a regrade stands, what a grading
decided. StrEnums, so each value is also the plain string stored in PostgreSQL and sent as JSON, and the API's
OpenAPI document lists the allowed values."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    STUDENT = "student"
    INSTRUCTOR = "instructor"
    OPERATOR = "operator"


class SubmissionStatus(StrEnum):
    QUEUED = "queued"
    GRADING = "grading"
    GRADED = "graded"
    ERROR = "error"


class BatchStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    FAILED = "failed"


class ReportStatus(StrEnum):
    """A similarity report's life: started, computing, done (or stopped)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RecountStatus(StrEnum):
    """A recount of grades after an offering's terms or a student's extension changed (no code runs again)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class BatchHold(StrEnum):
    """An instructor's hold on a regrade batch, as the grading activities read it before each item."""

    PAUSED = "paused"
    CANCELLED = "cancelled"


class WorkflowState(StrEnum):
    """A Temporal workflow execution's status, in GradeFlow's words (the operator's filter and answers). The
    member names are Temporal's own (`temporalio.client.WorkflowExecutionStatus`)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"
    TIMED_OUT = "timed_out"
    CANCELED = "cancelled"
    CONTINUED_AS_NEW = "continued_as_new"


class PairReview(StrEnum):
    """What an instructor made of a similar pair."""

    OPEN = "open"
    FLAGGED = "flagged"
    DISMISSED = "dismissed"


class Verdict(StrEnum):
    PASSED = "passed"
    WRONG_ANSWER = "wrong_answer"
    RUNTIME_ERROR = "runtime_error"
    SYNTAX_ERROR = "syntax_error"
    # The compiler refused the code: shown with its diagnostics, not counted against the submission limit
    COMPILE_ERROR = "compile_error"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    # The grader failed after its retries: not the student's doing
    INTERNAL_ERROR = "internal_error"
    # The assignment's tests failed to load: the instructor's to fix
    TEST_ERROR = "test_error"


class GradeRule(StrEnum):
    """Which graded submission is a student's grade for an assignment (a cohort's setting)."""

    BEST = "best"
    LATEST = "latest"


# Groups the code asks about.
# A grading is still to come, in the order a submission goes through them
PENDING_STATUSES = (SubmissionStatus.QUEUED, SubmissionStatus.GRADING)
# The submission's result is in
FINAL_STATUSES = (SubmissionStatus.GRADED, SubmissionStatus.ERROR)
# A submission's status only moves forward: its rank (the status cache keeps the later of two writes)
STATUS_RANK: dict[str, int] = {
    **{status: rank for rank, status in enumerate(PENDING_STATUSES)},
    **dict.fromkeys(FINAL_STATUSES, len(PENDING_STATUSES)),
}
FINAL_RANK = len(PENDING_STATUSES)
# What a batch's status means for its hold (the grading activities read the hold; PostgreSQL has the status)
BATCH_HOLD = {
    BatchStatus.PAUSED: BatchHold.PAUSED,
    BatchStatus.CANCELLING: BatchHold.CANCELLED,
    BatchStatus.CANCELLED: BatchHold.CANCELLED,
}
# Temporal's own word for each workflow state, as its visibility queries take it
TEMPORAL_STATUS = {
    WorkflowState.RUNNING: "Running",
    WorkflowState.COMPLETED: "Completed",
    WorkflowState.FAILED: "Failed",
    WorkflowState.TERMINATED: "Terminated",
    WorkflowState.TIMED_OUT: "TimedOut",
    WorkflowState.CANCELED: "Canceled",
    WorkflowState.CONTINUED_AS_NEW: "ContinuedAsNew",
}
# The states of work that went wrong
WORKFLOW_FAILED = (WorkflowState.FAILED, WorkflowState.TIMED_OUT, WorkflowState.TERMINATED)
BATCH_ACTIVE = (BatchStatus.QUEUED, BatchStatus.RUNNING, BatchStatus.PAUSED, BatchStatus.CANCELLING)
BATCH_ENDED = (BatchStatus.COMPLETED, BatchStatus.CANCELLED, BatchStatus.FAILED)
REPORT_ACTIVE = (ReportStatus.QUEUED, ReportStatus.RUNNING)
REPORT_ENDED = (ReportStatus.COMPLETED, ReportStatus.CANCELLED, ReportStatus.FAILED)
