"""Live submission updates for server-sent events: one Redis subscription per API process, fanned out in memory to
the streams following a submission, so a thousand open pages cost one subscription, not a thousand."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson

from gradeflow import redis_keys
from gradeflow.status_cache import from_cache

log = logging.getLogger(__name__)
TOKENS_CHANNEL = redis_keys.TOKENS_CHANNEL.encode()


class EventHub:
    """Also hears changed tokens (redis_keys.TOKENS_CHANNEL: revoked, or their cohorts changed) and passes their hashes to `on_token_changed`."""

    def __init__(
        self, redis_url: str, on_token_changed: Callable[[str], None] = lambda token_hash: None
    ) -> None:
        self.redis = redis_keys.connect_subscriber(redis_url)
        self.on_token_changed = on_token_changed
        self.listeners: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="event-hub")

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.redis.aclose()

    def subscribe(self, submission_id: str) -> asyncio.Queue[dict[str, Any]]:
        """A queue receiving every event published for `submission_id` until `unsubscribe`."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.listeners.setdefault(submission_id, set()).add(queue)
        return queue

    def unsubscribe(self, submission_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering to `queue` (again is harmless)."""
        waiting = self.listeners.get(submission_id)
        if waiting is not None:
            waiting.discard(queue)
            if not waiting:
                del self.listeners[submission_id]

    def _deliver(self, data: bytes) -> None:
        try:
            event, _ = from_cache(data)  # a worker publishes the status cache's entry as it is
            waiting = self.listeners.get(event["id"], ())
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            log.warning("ignoring a malformed event on %s", redis_keys.EVENTS_CHANNEL)
            return
        for queue in waiting:
            queue.put_nowait(event)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(redis_keys.EVENTS_CHANNEL, redis_keys.TOKENS_CHANNEL)
                    delay = 0.5
                    while True:
                        message = await pubsub.get_message(timeout=5.0)
                        if message is None or message["type"] != "message":
                            continue
                        if (
                            message["channel"] == TOKENS_CHANNEL
                        ):  # bytes: this client decodes nothing
                            self.on_token_changed(message["data"].decode())
                        else:
                            self._deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis down: streams fall back to re-reading the status
                log.warning(
                    "event subscription lost (%s: %s); resubscribing in %.1f s",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
