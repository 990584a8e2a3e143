"""Feeds Temporal from the intake: the Redis stream dispatcher and the PostgreSQL reconciler.

The stream is the fast path; the reconciler is the safety net that makes a lost message, a flushed or restarted
Redis, or a Temporal outage cost latency and never a submission. The dispatcher takes from the stream only as many
submissions as its worker can grade soon: a burst waits in Redis, not as hundreds of open workflow tasks that
Temporal would have to keep alive, and several workers share a burst by how fast each of them grades.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from gradeflow import redis_keys
from gradeflow.models import Assignment, Cohort, Submission
from gradeflow.vocabulary import SubmissionStatus
from workflows.start import start_grading_workflow

log = logging.getLogger(__name__)
# A message a dead dispatcher read but never acknowledged is claimed by a live one after this long.
RECLAIM_IDLE_MS = 30_000
# How often a dispatcher looks for such messages (while it finds some: at every round).
RECLAIM_EVERY_SECONDS = 5.0
# A grading this dispatcher started but never heard the end of (it moved to another worker) stops counting
# against its room after this long: longer than any grading may take.
IN_FLIGHT_EXPIRY_SECONDS = 180.0


async def start_once(
    client: Client,
    submission_id: str,
    assignment_id: str,
    user_id: str,
    cohort: str,
    eager: bool = False,
    language: str = "python",
) -> bool:
    """Start a submission's grading; one already started or finished is left alone (no double grading).
    Returns whether this call started it."""
    try:
        await start_grading_workflow(
            client, submission_id, assignment_id, user_id, cohort, eager=eager, language=language
        )
        return True
    except WorkflowAlreadyStartedError:
        return False


class Dispatcher:
    """Reads the intake stream with a consumer group, starts workflows, then acknowledges; keeps at most
    `in_flight` of the gradings it started unfinished."""

    def __init__(
        self,
        redis: Redis,
        client: Client,
        batch: int,
        in_flight: int,
        served: frozenset[str] = frozenset({"python"}),
    ) -> None:
        self.redis = redis
        # The languages this worker grades: only their gradings may start eagerly here
        self.served = served
        self.client = client
        self.batch = batch
        self.limit = in_flight
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        # Submission id -> when this dispatcher started its grading
        self.in_flight: dict[str, float] = {}
        self.room = asyncio.Event()
        # Each round reads the stream once: claiming dead consumers' messages waits for its time, and our own
        # unacknowledged ones are read again only while there are some (after a restart, or a start that failed).
        self.next_reclaim = 0.0
        self.own_pending = True

    def finished(self, submission_id: str) -> None:
        """A live grading ended in this worker (called by the recording activities)."""
        if self.in_flight.pop(submission_id, None) is not None:
            self.room.set()

    def free(self) -> int:
        expired = time.monotonic() - IN_FLIGHT_EXPIRY_SECONDS
        for sub_id in [s for s, at in self.in_flight.items() if at < expired]:
            del self.in_flight[sub_id]
        return self.limit - len(self.in_flight)

    async def wait_for_room(self) -> int:
        while True:
            self.room.clear()  # before looking, so a grading that ends meanwhile still wakes us
            if (room := self.free()) > 0:
                return room
            try:
                # Expiries are noticed within a second
                await asyncio.wait_for(self.room.wait(), timeout=1.0)
            except TimeoutError:
                pass

    async def _start(self, fields: dict) -> None:
        sub_id = fields["submission_id"]
        # Before starting: an eager grading may end before we resume
        self.in_flight[sub_id] = time.monotonic()
        started = False
        language = fields.get("language") or "python"
        try:
            started = await start_once(
                self.client,
                sub_id,
                fields["assignment_id"],
                fields["user_id"],
                fields.get("cohort", ""),
                # A language this worker lacks goes to its own queue, for a worker that has it
                eager=language in self.served,
                language=language,
            )
        finally:
            # Already graded, or the start failed and will be retried; or another worker grades its language
            # (this one never hears its end): none of them takes this dispatcher's room
            if not started or language not in self.served:
                self.in_flight.pop(sub_id, None)

    async def _ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(
                redis_keys.INTAKE_STREAM, redis_keys.INTAKE_GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _handle(self, entries: list) -> None:
        if not entries:
            return
        try:
            # Entries deleted after a crash between XDEL and XACK come back with no fields: just acknowledge them.
            await asyncio.gather(*(self._start(f) for _, f in entries if f))
            ids = [mid for mid, _ in entries]
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xack(redis_keys.INTAKE_STREAM, redis_keys.INTAKE_GROUP, *ids)
                pipe.xdel(redis_keys.INTAKE_STREAM, *ids)
                await pipe.execute()
        except BaseException:
            self.own_pending = True  # left pending for this consumer: read again next round
            raise

    async def run_once(self, block_ms: int = 1000) -> int:
        count = min(self.batch, await self.wait_for_room())
        # Entries a dead consumer left pending are claimed and handled first.
        if time.monotonic() >= self.next_reclaim:
            # Redis 6.2 answers [next, claimed]; 7+ adds the deleted ids.
            claimed = (
                await self.redis.xautoclaim(
                    redis_keys.INTAKE_STREAM,
                    redis_keys.INTAKE_GROUP,
                    self.consumer,
                    RECLAIM_IDLE_MS,
                    count=count,
                )
            )[1]
            await self._handle(claimed)
            if claimed:
                return len(claimed)  # and look again next round
            self.next_reclaim = time.monotonic() + RECLAIM_EVERY_SECONDS
        # Our own pending entries (a start that failed last time), then new ones.
        for start_id, block in (("0", None), (">", block_ms)):
            if start_id == "0" and not self.own_pending:
                continue
            reply = await self.redis.xreadgroup(
                redis_keys.INTAKE_GROUP,
                self.consumer,
                {redis_keys.INTAKE_STREAM: start_id},
                count=count,
                block=block,
            )
            # [(stream, [(entry id, fields), ...])]: redis-py's reply types cannot say so.
            entries = [e for _, stream_entries in cast(list[Any], reply) for e in stream_entries]
            if start_id == "0" and len(entries) < count:
                self.own_pending = False  # every one of them is in hand
            await self._handle(entries)
            if entries:
                return len(entries)
        return 0

    async def run(self) -> None:
        delay = 0.5
        group_ready = False
        while True:
            try:
                if not group_ready:
                    await self._ensure_group()
                    group_ready = True
                await self.run_once()
                delay = 0.5
            except ResponseError as exc:
                # Redis was flushed or restarted: recreate the group (the reconciler covers whatever
                # was lost).
                if "NOGROUP" in str(exc):
                    group_ready = False
                    log.warning("intake stream group missing; recreating it")
                    continue
                log.warning("dispatcher: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or Temporal trouble: back off, never die
                log.warning(
                    "dispatcher: %s: %s; retrying in %.1fs",
                    type(exc).__name__,
                    exc,
                    delay,
                    exc_info=not isinstance(exc, (RedisError, OSError, RuntimeError)),
                )
                group_ready = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)


class Reconciler:
    """Starts workflows for submissions left `queued` too long (lost message, Redis flush, Temporal outage)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: Client,
        after_seconds: float,
        interval_seconds: float,
        batch: int = 500,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.after = timedelta(seconds=after_seconds)
        self.interval = interval_seconds
        self.batch = batch

    async def run_once(self) -> int:
        cutoff = datetime.now(UTC) - self.after
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Submission.id,
                        Submission.assignment_id,
                        Submission.user_id,
                        Cohort.slug,
                        Assignment.language,
                    )
                    .join(Assignment, Submission.assignment_id == Assignment.id)
                    .outerjoin(Cohort, Submission.cohort_id == Cohort.id)
                    .where(
                        Submission.status == SubmissionStatus.QUEUED, Submission.created_at < cutoff
                    )
                    .order_by(Submission.created_at)
                    .limit(self.batch)
                )
            ).all()
        await asyncio.gather(
            *(
                start_once(
                    self.client,
                    str(r.id),
                    str(r.assignment_id),
                    str(r.user_id),
                    r.slug or "",
                    language=r.language,
                )
                for r in rows
            )
        )
        if rows:
            log.info("reconciler started or confirmed %d queued submission(s)", len(rows))
        return len(rows)

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # noqa: BLE001 - keep reconciling whatever failed this round
                log.warning("reconciler: %s", exc)
            await asyncio.sleep(self.interval)
