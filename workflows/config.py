"""Task queues, timeouts, retry policies and search attributes: the one place Temporal knobs live."""

from datetime import timedelta

from temporalio.common import RetryPolicy, SearchAttributeKey

# Live gradings (and an assignment's solution check)
GRADING_TASK_QUEUE = "gradeflow-grading"


def grading_queue(language: str) -> str:
    """Live gradings of a language other than Python have a queue of their own, polled only by workers that have
    its toolchain: work for a language no running worker serves waits there (visibly) instead of failing."""
    return GRADING_TASK_QUEUE if language in ("", "python") else f"{GRADING_TASK_QUEUE}-{language}"


# Work on whole cohorts (regrades, recounts of grades, similarity reports) has its own queue and worker slots, so
# it never delays live submissions.
BATCH_TASK_QUEUE = "gradeflow-batch"


def batch_grading_queue(language: str) -> str:
    """A regrade's chunks of a language other than Python go to that language's batch queue, polled only by
    workers that have its toolchain (with the batch slots of those workers)."""
    return BATCH_TASK_QUEUE if language in ("", "python") else f"{BATCH_TASK_QUEUE}-{language}"


# Grading: the sandbox enforces the assignment's wall limit (at most 60 s); the rest is slack for start-up.
GRADE_START_TO_CLOSE = timedelta(minutes=2)
# A worker that dies mid-grading is noticed within this long and the grading is retried elsewhere.
GRADE_HEARTBEAT = timedelta(seconds=5)
RECORD_START_TO_CLOSE = timedelta(seconds=30)
# A local activity retried for longer than this backs off on a durable timer instead of inside the workflow task.
LOCAL_RETRY_THRESHOLD = timedelta(seconds=10)
GRADE_WORKFLOW_EXECUTION_TIMEOUT = timedelta(hours=1)

# Regrades: a chunk of submissions per activity; a lost worker is noticed by the heartbeat.
REGRADE_CHUNK_START_TO_CLOSE = timedelta(minutes=30)
REGRADE_CHUNK_HEARTBEAT = timedelta(seconds=10)
REGRADE_BOOKKEEPING_START_TO_CLOSE = timedelta(seconds=60)
REGRADE_WORKFLOW_EXECUTION_TIMEOUT = timedelta(days=2)

# Infrastructure faults (sandbox failed to start, worker died, database blip) are retried with backoff.
# What the student's code did is a result returned by the activity, never an exception, so never retried.
INFRA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
    non_retryable_error_types=["SubmissionNotFound"],
)

ASSIGNMENT_KEY = SearchAttributeKey.for_keyword("GradeflowAssignment")
USER_KEY = SearchAttributeKey.for_keyword("GradeflowUser")
COHORT_KEY = SearchAttributeKey.for_keyword("GradeflowCohort")
REGRADE_BATCH_KEY = SearchAttributeKey.for_keyword("GradeflowRegradeBatch")
SEARCH_ATTRIBUTES = (ASSIGNMENT_KEY, USER_KEY, COHORT_KEY, REGRADE_BATCH_KEY)


def grade_workflow_id(submission_id: str) -> str:
    return f"grade-{submission_id}"


def regrade_workflow_id(batch_id: str) -> str:
    return f"regrade-{batch_id}"


def recompute_workflow_id(recompute_id: str) -> str:
    return f"recompute-{recompute_id}"


def similarity_workflow_id(report_id: str) -> str:
    return f"similarity-{report_id}"


# LTI: one PostGrades workflow per LMS sends grades to its line items. A post that fails (the LMS down, slow or
# refusing) is retried with backoff for as long as it takes: a grade is delayed, never lost.
LTI_POST_START_TO_CLOSE = timedelta(minutes=2)
LTI_POST_HEARTBEAT = timedelta(seconds=30)
LTI_POST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=20),
)
# Between rounds the workflow waits for a wake-up (a grade marked: PostgreSQL notifies the worker, which signals
# it) or this long, whichever comes first; it continues as new after so many rounds.
LTI_IDLE_ROUND = timedelta(minutes=1)
LTI_ROUNDS_PER_RUN = 500


def lti_grades_workflow_id(platform_id: int) -> str:
    return f"lti-grades-{platform_id}"


# Rosters: every LMS course's roster synced on a schedule (lti_roster_sync_hours), one run at a time.
LTI_ROSTER_SYNC_START_TO_CLOSE = timedelta(minutes=30)
LTI_ROSTER_SCHEDULE_ID = "gradeflow-lti-rosters"
