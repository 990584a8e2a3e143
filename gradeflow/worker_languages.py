"""Which languages the running workers grade, as they announce it in Redis (worker.languages decides what a worker
serves): the API warns when an assignment's language has no worker, the operator sees which languages are served."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time

from redis.asyncio import Redis

from gradeflow import redis_keys
from gradeflow.redis_keys import best_effort

ANNOUNCE_EVERY_SECONDS = 15.0


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def announce_languages(redis: Redis, served: dict[str, str]) -> None:
    """Keep this worker's languages in Redis while it runs (best effort: Redis is a cache)."""
    name = worker_name()
    try:
        while True:
            entry = json.dumps({"languages": served, "at": time.time()})
            await best_effort(
                redis.hset(redis_keys.WORKER_LANGUAGES, name, entry), "the worker's languages"
            )
            await asyncio.sleep(ANNOUNCE_EVERY_SECONDS)
    finally:
        await best_effort(redis.hdel(redis_keys.WORKER_LANGUAGES, name), "the worker's languages")


async def languages_served(redis: Redis) -> dict[str, str] | None:
    """Every language some running worker grades, with its toolchain; None when Redis cannot say."""
    entries = await best_effort(
        redis.hgetall(redis_keys.WORKER_LANGUAGES), "the workers' languages"
    )
    if entries is None:
        return None
    now = time.time()
    out: dict[str, str] = {}
    for raw in entries.values():
        try:
            entry = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if now - float(entry.get("at", 0)) <= redis_keys.WORKER_LANGUAGES_TTL_SECONDS:
            out.update(entry.get("languages") or {})
    return out
