"""PostGrades: one per registered LMS, for as long as it is registered. Each round sends the grades the database
marked pending (activities.lti); an LMS that is down fails the round's activity, which Temporal retries with
backoff until the LMS takes the grades. Between rounds it waits for a wake-up signal (the worker relays
PostgreSQL's notification of a new mark) or a minute."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.lti import (
        LtiActivities,
        LtiRosterActivities,
        PostGradesInput,
        RosterSyncResult,
    )
    from workflows.config import (
        LTI_IDLE_ROUND,
        LTI_POST_HEARTBEAT,
        LTI_POST_RETRY,
        LTI_POST_START_TO_CLOSE,
        LTI_ROSTER_SYNC_START_TO_CLOSE,
        LTI_ROUNDS_PER_RUN,
    )


@workflow.defn
class PostGrades:
    def __init__(self) -> None:
        # Wake-ups counted, not flagged: one that comes while a round runs (its grade committed after the round
        # read the pending ones) makes another round at once
        self.wakes = 0

    @workflow.signal
    def wake(self) -> None:
        """Grades were marked pending: send them now."""
        self.wakes += 1

    def _woken_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self.wakes != seen

    @workflow.run
    async def run(self, req: PostGradesInput) -> None:
        for _ in range(LTI_ROUNDS_PER_RUN):
            seen = self.wakes
            result = await workflow.execute_activity_method(
                LtiActivities.post_grades,
                req,
                start_to_close_timeout=LTI_POST_START_TO_CLOSE,
                heartbeat_timeout=LTI_POST_HEARTBEAT,
                retry_policy=LTI_POST_RETRY,
            )
            if not result.more:
                try:
                    await workflow.wait_condition(self._woken_since(seen), timeout=LTI_IDLE_ROUND)
                except TimeoutError:
                    pass
        workflow.continue_as_new(req)


@workflow.defn
class SyncRosters:
    """Every LMS course's roster synced (run by a schedule; instructors also sync one on demand)."""

    @workflow.run
    async def run(self) -> RosterSyncResult:
        return await workflow.execute_activity_method(
            LtiRosterActivities.sync_rosters,
            start_to_close_timeout=LTI_ROSTER_SYNC_START_TO_CLOSE,
            heartbeat_timeout=LTI_POST_HEARTBEAT,
            retry_policy=LTI_POST_RETRY,
        )
