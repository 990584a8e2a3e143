"""The submission status cache in Redis, whose statuses only move forward (queued -> grading -> graded | error).

Redis applies writes in the order they reach it, not in the order they were made: a write that timed out in its
client (Redis frozen, a slow network) can be applied after a newer one. So every write goes through one Lua script
that compares status ranks and keeps the later status; a late or replayed write of an earlier status is dropped.
Work that legitimately starts a submission over (an operator's retry, a regrade) deletes the key instead.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from gradeflow import redis_keys
from gradeflow.vocabulary import STATUS_RANK

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


async def write_forward(
    target: Redis | Pipeline, payload: dict[str, Any], encoded: bytes | str | None = None
) -> Any:
    """Queue (on a pipeline) or send (on a client) a status write that cannot overwrite a later status; on a client,
    1 when written and 0 when dropped. `encoded`: the payload already encoded, when the caller has it.

    EVAL with the script's text rather than a registered script's EVALSHA: redis-py asks Redis whether it knows a
    pipeline's scripts (SCRIPT EXISTS) before each pipeline, one more round trip per write, three per submission;
    Redis keeps an EVAL'd script compiled under its hash, and a restarted Redis needs nothing loaded again."""
    command = target.eval(
        _WRITE_FORWARD,
        1,
        redis_keys.submission_status(payload["id"]),
        encoded if encoded is not None else orjson.dumps(payload),
        rank(payload["status"]),
        redis_keys.STATUS_TTL_SECONDS,
    )
    if isinstance(target, Pipeline):
        return None  # queued: its answer comes with the pipeline's
    return await command
