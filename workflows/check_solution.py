"""CheckSolution: grade an instructor's reference solution against draft tests, before the assignment is saved."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.grading import GradingActivities, SolutionCheck, SolutionCheckResult
    from workflows.config import GRADE_HEARTBEAT, GRADE_START_TO_CLOSE, INFRA_RETRY


@workflow.defn
class CheckSolution:
    @workflow.run
    async def run(self, check: SolutionCheck) -> SolutionCheckResult:
        return await workflow.execute_activity_method(
            GradingActivities.check_solution,
            check,
            start_to_close_timeout=GRADE_START_TO_CLOSE,
            heartbeat_timeout=GRADE_HEARTBEAT,
            retry_policy=INFRA_RETRY,
        )
