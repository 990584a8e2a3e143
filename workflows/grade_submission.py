"""GradeSubmission: grade one submission in the sandbox, then record the result.

Both steps are local activities run by the worker that holds the workflow task (started eagerly by the intake
dispatcher in the same process): one workflow task per grading instead of three, and no activity task to match,
which is what lets the live path keep up with the sandbox during a deadline rush. Each step still appears in the
history (a marker with its activity name, attempt, result or failure) and is retried with INFRA_RETRY; a worker
that dies mid-grading is noticed by the workflow task timeout and another worker grades the submission again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.grading import (
        CompileOutcome,
        GradingActivities,
        GradingFailure,
        GradingOutcome,
        GradingRequest,
        RecordRequest,
    )
    from gradeflow.languages import DEFAULT as PYTHON
    from gradeflow.models import TEST_ERROR
    from gradeflow.vocabulary import SubmissionStatus, Verdict
    from workflows.config import (
        GRADE_HEARTBEAT,
        GRADE_START_TO_CLOSE,
        INFRA_RETRY,
        LOCAL_RETRY_THRESHOLD,
        RECORD_START_TO_CLOSE,
    )

# Histories recorded before gradings became local activities replay on the old branch.
LOCAL_ACTIVITIES_PATCH = "grade-with-local-activities"


@dataclass
class GradeSubmissionInput:
    submission_id: str
    # The assignment's language: a compiled one gets a compile step first ("": recorded before languages, Python)
    language: str = ""


@dataclass
class GradeSubmissionResult:
    submission_id: str
    status: str
    verdict: str
    score: float | None


# Not in the workflow sandbox: it would re-import this module for every run, which cost the worker more CPU than
# the run itself during a rush (measured with py-spy). The code below only calls activities and reads its input.
@workflow.defn(sandboxed=False)
class GradeSubmission:
    @workflow.run
    async def run(self, inp: GradeSubmissionInput) -> GradeSubmissionResult:
        info = workflow.info()
        local = workflow.patched(LOCAL_ACTIVITIES_PATCH)
        compiled: CompileOutcome | None = None
        try:
            if inp.language and inp.language != PYTHON:
                # Its own step in the history: compiled once here (or found in the compile cache), so the grading
                # below runs the program, or reports the compile error, without compiling again.
                compiled = await step(
                    local,
                    GradingActivities.compile_submission,
                    GradingRequest(submission_id=inp.submission_id),
                    GRADE_START_TO_CLOSE,
                    heartbeat_timeout=GRADE_HEARTBEAT,
                )
            outcome: GradingOutcome = await step(
                local,
                GradingActivities.grade_submission,
                GradingRequest(submission_id=inp.submission_id),
                GRADE_START_TO_CLOSE,
                heartbeat_timeout=GRADE_HEARTBEAT,
            )
        # Retries are spent. A local activity that backed off on a timer (past LOCAL_RETRY_THRESHOLD) reports its
        # last failure unwrapped (seen in tests/workflows), so its ApplicationError or TimeoutError counts too.
        except (ActivityError, ApplicationError, TemporalTimeoutError) as err:
            # Retries are exhausted: the infrastructure, not the student, failed. Say so on the submission.
            await step(
                local,
                GradingActivities.record_grading_failure,
                GradingFailure(submission_id=inp.submission_id, message=str(err.cause or err)),
                RECORD_START_TO_CLOSE,
            )
            return GradeSubmissionResult(
                inp.submission_id, SubmissionStatus.ERROR, Verdict.INTERNAL_ERROR, 0.0
            )
        await step(
            local,
            GradingActivities.record_grading,
            RecordRequest(
                outcome=outcome,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                compiled=compiled,
            ),
            RECORD_START_TO_CLOSE,
        )
        # Broken tests grade nobody
        status = (
            SubmissionStatus.ERROR if outcome.verdict == TEST_ERROR else SubmissionStatus.GRADED
        )
        return GradeSubmissionResult(inp.submission_id, status, outcome.verdict, outcome.score)


async def step(
    local: bool, method, arg, start_to_close: timedelta, heartbeat_timeout: timedelta | None = None
):
    """One step of a grading, retried on infrastructure faults: a local activity, or an activity task in
    histories recorded before the patch (those also heartbeat)."""
    if local:
        return await workflow.execute_local_activity_method(
            method,
            arg,
            start_to_close_timeout=start_to_close,
            retry_policy=INFRA_RETRY,
            local_retry_threshold=LOCAL_RETRY_THRESHOLD,
        )
    return await workflow.execute_activity_method(
        method,
        arg,
        start_to_close_timeout=start_to_close,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=INFRA_RETRY,
    )
