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
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    INTERNAL_ERROR = (
        "internal_error"  # the grader failed after its retries: not the student's doing
    )
    TEST_ERROR = "test_error"  # the assignment's tests failed to load: the instructor's to fix


class GradeRule(StrEnum):
    """Which graded submission is a student's grade for an assignment (a cohort's setting)."""

    BEST = "best"
    LATEST = "latest"


# Groups the code asks about.
PENDING_STATUSES = (SubmissionStatus.QUEUED, SubmissionStatus.GRADING)  # a grading is still to come
FINAL_STATUSES = (SubmissionStatus.GRADED, SubmissionStatus.ERROR)  # the submission's result is in
BATCH_ACTIVE = (BatchStatus.QUEUED, BatchStatus.RUNNING, BatchStatus.PAUSED, BatchStatus.CANCELLING)
BATCH_ENDED = (BatchStatus.COMPLETED, BatchStatus.CANCELLED, BatchStatus.FAILED)
