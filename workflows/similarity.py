"""SimilarityReport: who may have copied from whom in one cohort's submissions of one assignment. On the regrade
queue, beside regrades and recomputes, so live gradings come first.

Fingerprints each student's latest submission a page at a time (the report's row shows the progress), then scores
the candidate pairs. Cancelling the workflow (the API's cancel) ends the report `cancelled`; a step that fails
for good ends it `failed` with the reason. Its input is its whole state: pages are few and small.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.similarity import (
        FingerprintPage,
        PageDone,
        ReportEnd,
        ReportRef,
        SimilarityActivities,
    )
    from gradeflow.vocabulary import ReportStatus
    from workflows.config import INFRA_RETRY, REGRADE_BOOKKEEPING_START_TO_CLOSE

# A page of students is fingerprinted in well under a minute; scoring 2,000 codes takes seconds. A worker that
# dies is noticed by the heartbeat and the step retried elsewhere.
STEP_START_TO_CLOSE = timedelta(minutes=15)
STEP_HEARTBEAT = timedelta(seconds=20)


@dataclass
class SimilarityInput:
    report_id: str
    page_size: int = 250


@workflow.defn(name="SimilarityReport")
class SimilarityReportWorkflow:
    @workflow.run
    async def run(self, req: SimilarityInput) -> int:
        ref = ReportRef(req.report_id)
        try:
            await workflow.execute_activity_method(
                SimilarityActivities.start_similarity,
                ref,
                start_to_close_timeout=REGRADE_BOOKKEEPING_START_TO_CLOSE,
                retry_policy=INFRA_RETRY,
            )
            page = PageDone(next_after=0, done=0)
            while page.next_after is not None:
                page = await workflow.execute_activity_method(
                    SimilarityActivities.fingerprint_page,
                    FingerprintPage(req.report_id, page.next_after, req.page_size, page.done),
                    start_to_close_timeout=STEP_START_TO_CLOSE,
                    heartbeat_timeout=STEP_HEARTBEAT,
                    retry_policy=INFRA_RETRY,
                )
            return await workflow.execute_activity_method(
                SimilarityActivities.score_pairs,
                ref,
                start_to_close_timeout=STEP_START_TO_CLOSE,
                heartbeat_timeout=STEP_HEARTBEAT,
                retry_policy=INFRA_RETRY,
            )
        except (asyncio.CancelledError, ActivityError) as exc:
            if is_cancelled_exception(exc):
                await self._end(ReportEnd(req.report_id, ReportStatus.CANCELLED))
            else:
                cause = getattr(exc, "cause", None)
                why = cause.message if cause is not None else str(exc)
                await self._end(ReportEnd(req.report_id, ReportStatus.FAILED, why))
            raise

    async def _end(self, end: ReportEnd) -> None:
        # The cancellation was delivered to the step it interrupted: this activity still runs (see samples-python's
        # cancellation sample), so the report says how it ended.
        await workflow.execute_activity_method(
            SimilarityActivities.finish_similarity,
            end,
            start_to_close_timeout=REGRADE_BOOKKEEPING_START_TO_CLOSE,
            retry_policy=INFRA_RETRY,
        )
