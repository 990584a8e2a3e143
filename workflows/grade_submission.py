"""GradeSubmission: grade one submission in the sandbox, then record the result."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.grading import (
        GradingActivities,
        GradingFailure,
        GradingOutcome,
        GradingRequest,
        RecordRequest,
    )
    from workflows.config import (
        GRADE_HEARTBEAT,
        GRADE_START_TO_CLOSE,
        INFRA_RETRY,
        RECORD_START_TO_CLOSE,
    )


@dataclass
class GradeSubmissionInput:
    submission_id: str


@dataclass
class GradeSubmissionResult:
    submission_id: str
    status: str
    verdict: str
    score: float


@workflow.defn
class GradeSubmission:
    @workflow.run
    async def run(self, inp: GradeSubmissionInput) -> GradeSubmissionResult:
        info = workflow.info()
        try:
            outcome: GradingOutcome = await workflow.execute_activity_method(
                GradingActivities.grade,
                GradingRequest(submission_id=inp.submission_id),
                start_to_close_timeout=GRADE_START_TO_CLOSE,
                heartbeat_timeout=GRADE_HEARTBEAT,
                retry_policy=INFRA_RETRY,
            )
        except ActivityError as err:
            # Retries are exhausted: the infrastructure, not the student, failed. Say so on the submission.
            message = str(err.cause or err)
            await workflow.execute_activity_method(
                GradingActivities.record_failure,
                GradingFailure(submission_id=inp.submission_id, message=message),
                start_to_close_timeout=RECORD_START_TO_CLOSE,
                retry_policy=INFRA_RETRY,
            )
            return GradeSubmissionResult(inp.submission_id, "error", "internal_error", 0.0)
        await workflow.execute_activity_method(
            GradingActivities.record,
            RecordRequest(outcome=outcome, workflow_id=info.workflow_id, run_id=info.run_id),
            start_to_close_timeout=RECORD_START_TO_CLOSE,
            retry_policy=INFRA_RETRY,
        )
        return GradeSubmissionResult(inp.submission_id, "graded", outcome.verdict, outcome.score)
