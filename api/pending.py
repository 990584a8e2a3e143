"""When a client following a pending submission by polling should look again: the `Retry-After` of a queued or
grading answer, estimated from the intake queue's depth and how fast gradings finish.

Each API process keeps a snapshot of the queue (its depth, the arrival times of its oldest and newest entries, the
count of finished gradings) refreshed by at most one Redis round trip a second, so the estimate costs a request no
I/O of its own. The intake stream is first in, first out and its entry ids are arrival times, so a queued
submission's place in it is estimated from when it arrived between the oldest and the newest entry."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gradeflow import redis_keys
from gradeflow.vocabulary import SubmissionStatus

REFRESH_SECONDS = 1.0
# The drain rate is the gradings finished over about this long
RATE_WINDOW_SECONDS = 15.0
# Never tell a client to stay away longer than this: an estimate can be wrong, a result should not wait on it
MAX_RETRY_AFTER = 30
# A queue that has not moved lately (no worker yet, or all of them busy with long gradings): look again in
NOT_MOVING_RETRY_AFTER = 5


@dataclass(frozen=True)
class Queue:
    """The intake queue as one API process last saw it."""

    depth: int = 0  # submissions accepted and not yet started
    oldest_ms: int | None = None  # arrival (unix ms) of the oldest of them
    newest_ms: int | None = None
    rate: float | None = None  # gradings finished per second lately; None: not measured yet


def arrival_ms(entry_id: bytes | str) -> int:
    """A stream entry id is '<unix ms>-<sequence>'."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


def ahead_of(arrived_ms: int, queue: Queue) -> float:
    """About how many queued submissions will start before one that arrived at `arrived_ms`."""
    if queue.depth == 0 or queue.oldest_ms is None or queue.newest_ms is None:
        return 0.0
    if arrived_ms <= queue.oldest_ms:
        return 0.0  # older than every entry: already started, or next
    if arrived_ms >= queue.newest_ms or queue.newest_ms == queue.oldest_ms:
        return float(queue.depth)
    return queue.depth * (arrived_ms - queue.oldest_ms) / (queue.newest_ms - queue.oldest_ms)


def retry_after(status: str, arrived_ms: int | None, queue: Queue) -> int:
    """Whole seconds until a pending submission's result is likely, between 1 and MAX_RETRY_AFTER."""
    if status == SubmissionStatus.GRADING:
        return 1
    ahead = ahead_of(arrived_ms, queue) if arrived_ms is not None else float(queue.depth)
    if ahead < 1:
        return 1
    if not queue.rate:
        return NOT_MOVING_RETRY_AFTER
    return max(1, min(MAX_RETRY_AFTER, math.ceil(ahead / queue.rate)))


class QueueWatch:
    """The snapshot above, refreshed when a request finds it older than a second."""

    def __init__(self, redis: Redis, clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self.clock = clock
        self.queue = Queue()
        self.checked = -math.inf
        # (when, gradings finished by then), over the last RATE_WINDOW_SECONDS
        self.finished: deque[tuple[float, int]] = deque()

    async def current(self) -> Queue:
        now = self.clock()
        if now - self.checked >= REFRESH_SECONDS:
            self.checked = (
                now  # before the round trip: requests arriving meanwhile use the snapshot they have
            )
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.xlen(redis_keys.INTAKE_STREAM)
                    pipe.xrange(redis_keys.INTAKE_STREAM, count=1)
                    pipe.xrevrange(redis_keys.INTAKE_STREAM, count=1)
                    pipe.get(redis_keys.GRADINGS_FINISHED)
                    depth, oldest, newest, finished = await pipe.execute()
            except (RedisError, OSError):
                return self.queue  # Redis is a cache: the last snapshot (or none) will do
            self.queue = Queue(
                depth=int(depth),
                oldest_ms=arrival_ms(oldest[0][0]) if oldest else None,
                newest_ms=arrival_ms(newest[0][0]) if newest else None,
                rate=self._rate(now, int(finished or 0)),
            )
        return self.queue

    def _rate(self, now: float, finished: int) -> float | None:
        if self.finished and finished < self.finished[-1][1]:
            self.finished.clear()  # Redis restarted: the count began again
        self.finished.append((now, finished))
        while now - self.finished[0][0] > RATE_WINDOW_SECONDS:
            self.finished.popleft()
        first_at, first = self.finished[0]
        if now - first_at < 2 * REFRESH_SECONDS:
            return self.queue.rate  # too short a window to say
        return (finished - first) / (now - first_at)

    async def retry_after(self, payload: dict[str, Any]) -> int:
        created = payload.get("created_at")
        arrived = int(datetime.fromisoformat(created).timestamp() * 1000) if created else None
        return retry_after(payload["status"], arrived, await self.current())
