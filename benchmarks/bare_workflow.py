"""The ceiling of the live path: a workflow that runs one activity doing nothing, on the same Temporal server."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

BARE_TASK_QUEUE = "gradeflow-bench-bare"


@activity.defn
async def bare_activity(n: int) -> int:
    return n


@workflow.defn
class BareWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        return await workflow.execute_activity(
            bare_activity, n, start_to_close_timeout=timedelta(seconds=30)
        )
