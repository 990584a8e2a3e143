"""The submission status cache in Redis, whose statuses only move forward (queued -> grading -> graded | error).

Redis applies writes in the order they reach it, not in the order they were made: a write that timed out in its
client (Redis frozen, a slow network) can be applied after a newer one. So every write goes through one Lua script
that compares status ranks and keeps the later status; a late or replayed write of an earlier status is dropped.
Work that legitimately starts a submission over (an operator's retry, a regrade) deletes the key instead.

A final status in Redis is the answer. A pending one (queued, grading) can be behind PostgreSQL when a later write
never reached Redis (Redis frozen or down, a worker killed between its commit and its publish), so it is trusted
alone only when it is young and was written after the last recorded doubt (see `Doubt`): every entry carries the
time its writer made it (`WRITTEN`, stripped before anyone sees the payload), which a write applied late, after a
Redis freeze, does not refresh.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gradeflow import redis_keys
from gradeflow.db import autocommit_connection
from gradeflow.vocabulary import STATUS_RANK

log = logging.getLogger(__name__)

# When the entry's writer made it (unix seconds, the writer's clock): internal, never shown
WRITTEN = "_written"
# A pending status younger than this is answered from Redis alone; an older one is checked against PostgreSQL (and
# written again): the bound on how long a write lost without a recorded doubt can show an old pending status.
TRUST_SECONDS = 20.0
# Clocks of the hosts writing entries and recording doubts may differ by this much
CLOCK_SKEW_SECONDS = 2.0

# KEYS[1] the status key; ARGV: the payload (JSON), its rank, the TTL in seconds. 1 when written, 0 when dropped.
_WRITE_FORWARD = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  local ranks = RANKS
  if ok and type(decoded) == 'table' then
    local held = ranks[decoded['status']]
    if held ~= nil and held > tonumber(ARGV[2]) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
return 1
""".replace("RANKS", "{" + ", ".join(f"{s} = {r}" for s, r in STATUS_RANK.items()) + "}")


def rank(status: str | None) -> int:
    return STATUS_RANK.get(status or "", -1)


def moved_on(current: dict[str, Any], update: dict[str, Any] | None) -> bool:
    """Whether `update` shows a later status than `current`."""
    return update is not None and rank(update.get("status")) > rank(current.get("status"))


def stamped(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as the status cache holds it: with the time it was written."""
    return payload | {WRITTEN: time.time()}


def from_cache(raw: bytes | str) -> tuple[dict[str, Any], float]:
    """A cached payload as clients see it, and when it was written (0: unknown, an entry of an older release)."""
    payload = orjson.loads(raw)
    return payload, float(payload.pop(WRITTEN, 0.0))


def trusted(written: float, doubted_since: float) -> bool:
    """Whether a pending status written at `written` may be answered without asking PostgreSQL (see the module's
    docstring; a final status always may)."""
    return written > doubted_since + CLOCK_SKEW_SECONDS and time.time() - written < TRUST_SECONDS


async def write_forward(
    target: Redis | Pipeline, payload: dict[str, Any], encoded: bytes | str | None = None
) -> Any:
    """Queue (on a pipeline) or send (on a client) a status write that cannot overwrite a later status; on a client,
    1 when written and 0 when dropped. `encoded`: the payload already `stamped` and encoded, when the caller has it.

    EVAL with the script's text rather than a registered script's EVALSHA: redis-py asks Redis whether it knows a
    pipeline's scripts (SCRIPT EXISTS) before each pipeline, one more round trip per write, three per submission;
    Redis keeps an EVAL'd script compiled under its hash, and a restarted Redis needs nothing loaded again."""
    command = target.eval(
        _WRITE_FORWARD,
        1,
        redis_keys.submission_status(payload["id"]),
        encoded if encoded is not None else orjson.dumps(stamped(payload)),
        rank(payload["status"]),
        redis_keys.STATUS_TTL_SECONDS,
    )
    if isinstance(target, Pipeline):
        return None  # queued: its answer comes with the pipeline's
    return await command


class Doubt:
    """Up to when the status cache may be behind PostgreSQL, as one process last saw it: no pending entry written
    before `since` is answered from Redis alone. Shared through PostgreSQL (one row of status_cache_doubts), read
    at most every REFRESH_SECONDS per process.

    Why this keeps statuses from going back: a client is shown a status newer than Redis holds only by a process
    that read it from PostgreSQL and failed to write it to Redis. Any older entry Redis still holds was written
    before that read, so that process makes sure a doubt reaching past the read is recorded, and waits until every
    other process has read it, before it answers. An entry written after the doubt is behind only through another
    failure, which is covered the same way. A recorded doubt reaches COVER_AHEAD_SECONDS into the future, so that
    while Redis is down a process records one every few seconds, not one per request.

    A Redis that restarted from its append-only file may have lost the last second of writes, acknowledged ones
    included: each read also asks Redis for its run id, and a new one is covered like a failed write (what it holds
    was written before the restart)."""

    REFRESH_SECONDS = 0.5
    COVER_AHEAD_SECONDS = 5.0

    def __init__(self, engine: AsyncEngine, redis: Redis | None = None) -> None:
        self.engine = engine
        self.redis = redis
        self.run_id: str | None = None  # Redis's, when last read
        self.since = 0.0
        self.checked = -math.inf  # time.monotonic() when the last read began
        self.lock = asyncio.Lock()
        self.failing = False  # the last read failed
        self.recorded = 0.0  # the latest doubt this process recorded
        self.seen_by_all_at = -math.inf  # time.monotonic() when every process has read it
        self.recording = asyncio.Lock()

    async def current(self) -> float:
        if time.monotonic() - self.checked < self.REFRESH_SECONDS:
            return self.since
        async with self.lock:  # one read for all the requests that found it stale
            if time.monotonic() - self.checked >= self.REFRESH_SECONDS:
                began = time.monotonic()  # what is read is at least this recent
                try:
                    async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                        async with autocommit_connection(self.engine) as conn:
                            since = await conn.scalar(text(_READ_DOUBT))
                    self.since = max(self.since, float(since or 0.0))
                    self.failing = False
                except Exception as exc:  # noqa: BLE001 - not knowing, doubt everything written until now
                    if not self.failing:  # once per outage, not twice a second
                        log.warning("could not read the status cache's doubt: %s", exc)
                    self.failing = True
                    self.since = max(self.since, time.time())
                await self._notice_a_redis_restart()
                self.checked = began
        return self.since

    async def _notice_a_redis_restart(self) -> None:
        if self.redis is None:
            return
        try:
            run_id = str((await self.redis.info("server"))["run_id"])
        except Exception:  # noqa: BLE001 - Redis unreachable: a failed write covers what matters
            return
        if self.run_id is not None and run_id != self.run_id:
            log.warning("Redis restarted: its pending statuses are checked against PostgreSQL")
            try:
                await self.cover(time.time(), wait=False)
            except Exception as exc:  # noqa: BLE001 - this process at least doubts them
                log.warning("could not record the status cache's doubt: %s", exc)
                self.since = max(self.since, time.time())
        self.run_id = run_id

    async def cover(self, read_at: float, wait: bool = True) -> None:
        """Make sure a doubt reaching past `read_at` (time.time() when a status was read from PostgreSQL that Redis
        did not take) is recorded; with `wait`, return only once every process has had time to read it (call
        before showing that status)."""
        if self.recorded <= read_at:
            async with self.recording:
                if self.recorded <= read_at:
                    until = time.time() + self.COVER_AHEAD_SECONDS
                    async with autocommit_connection(self.engine) as conn:
                        await conn.execute(text(_RECORD_DOUBT), {"until": until})
                    self.recorded = until
                    self.since = max(self.since, until)
                    self.seen_by_all_at = time.monotonic() + self.REFRESH_SECONDS + 0.1
        if wait:
            await asyncio.sleep(max(0.0, self.seen_by_all_at - time.monotonic()))


READ_TIMEOUT_SECONDS = 2.0
_READ_DOUBT = "SELECT since FROM status_cache_doubts WHERE id = 1"
_RECORD_DOUBT = (
    "INSERT INTO status_cache_doubts (id, since) VALUES (1, :until) "
    "ON CONFLICT (id) DO UPDATE SET since = greatest(status_cache_doubts.since, EXCLUDED.since)"
)
