"""The one place that knows GradeFlow's Redis key names, the one Redis client factory, and the one way to make a
Redis call whose failure must not fail its caller."""

import logging
from collections.abc import Awaitable
from typing import TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

T = TypeVar("T")
log = logging.getLogger(__name__)

INTAKE_STREAM = "gradeflow:intake"
INTAKE_GROUP = "dispatchers"
EVENTS_CHANNEL = "gradeflow:events"
# Token hashes that stopped working (revoked or rotated), or whose user's cohorts changed: every API process forgets
# what it cached for them at once, instead of within its token cache's few seconds.
TOKENS_CHANNEL = "gradeflow:tokens-revoked"
# A cohort's assignment list as its students get it; the set names every such key, for the purge.
ASSIGNMENT_LISTS = "gradeflow:assignments:lists"
# Which worker samples the platform-wide gauges (worker/gauges.py): its identity, with a short expiry.
GAUGES_LEASE = "gradeflow:gauges:sampler"
# Which languages each running worker grades: a hash, worker -> {"languages": {name: toolchain}, "at": unix time};
# an entry older than WORKER_LANGUAGES_TTL_SECONDS belongs to a worker that is gone
WORKER_LANGUAGES = "gradeflow:worker-languages"
WORKER_LANGUAGES_TTL_SECONDS = 60
# Live gradings finished since Redis started (a counter the recording activities increment): the API reads how fast
# it grows to tell a client polling a pending submission when to look again (Retry-After).
GRADINGS_FINISHED = "gradeflow:gradings-finished"


def assignments_public(cohort_id: int) -> str:
    return f"gradeflow:assignments:public:{cohort_id}"


STATUS_TTL_SECONDS = 3600


def submission_status(submission_id: str) -> str:
    return f"gradeflow:submission:{submission_id}"


def regrade_control(batch_id: str) -> str:
    """ "paused" or "cancelled" while an instructor holds a batch; read by the grading activities per item."""
    return f"gradeflow:regrade:{batch_id}:control"


def rate_limit(user_id: int, window: int) -> str:
    return f"gradeflow:rate:{user_id}:{window}"


def connect(url: str, max_connections: int = 32) -> Redis:
    # Short timeouts: Redis is a cache in front of PostgreSQL, so a slow Redis must fail fast, not stall requests.
    # A bounded pool that makes callers wait for a free connection: under a burst an unbounded one opens a
    # connection per concurrent request, and opening one costs far more than waiting for one (measured).
    pool = BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        socket_timeout=2,
        socket_connect_timeout=2,
        max_connections=max_connections,
        timeout=2,
    )
    return Redis(connection_pool=pool)


def connect_subscriber(url: str) -> Redis:
    """A client for a long-lived subscription: no read timeout, since a channel is quiet between messages; a
    health check keeps a dead connection from going unnoticed."""
    return Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)


async def best_effort(command: Awaitable[T], what: str) -> T | None:
    """Await a Redis command that may fail without failing the caller (Redis is a cache in front of PostgreSQL,
    which holds the truth): its answer, or None, with a warning, when Redis did not answer."""
    try:
        return await command
    except (RedisError, OSError) as exc:
        log.warning("Redis unavailable for %s: %s", what, exc)
        return None


async def announce_token_changed(redis: Redis, token_hash: str) -> None:
    """Tell every API process to forget what it cached for a token: it stopped working, or its user joined, left
    or chose a cohort (without Redis each process notices once its cache entry expires: within
    GRADEFLOW_TOKEN_CACHE_SECONDS)."""
    await best_effort(redis.publish(TOKENS_CHANNEL, token_hash), "the changed token")
