"""RecomputeGrades: recount grades after an offering's terms or a student's extension changed, from each
submission's derivation; runs no code. On the batch queue, beside regrades: live submissions come first."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.courses import CourseActivities, RecomputeRequest, RecomputeResult
    from workflows.config import INFRA_RETRY, REGRADE_BOOKKEEPING_START_TO_CLOSE


@workflow.defn
class RecomputeGrades:
    @workflow.run
    async def run(self, req: RecomputeRequest) -> RecomputeResult:
        return await workflow.execute_activity_method(
            CourseActivities.recompute_credit,
            req,
            start_to_close_timeout=REGRADE_BOOKKEEPING_START_TO_CLOSE,
            retry_policy=INFRA_RETRY,
        )
