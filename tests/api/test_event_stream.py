"""The events stream's loop (api.routes.submissions.routes.EventStream) as plain ASGI, against a fake client: what it
sends, when it ends, and that it always gives its subscription back. The hub is a real EventHub, never started
(subscribing is bookkeeping in memory)."""

from __future__ import annotations

import asyncio
import json
import uuid

from api.events import EventHub
from api.routes.submissions.routes import EventStream

SUB = uuid.uuid4()


def payload(status: str) -> dict:
    return {"id": str(SUB), "assignment_id": 1, "status": status}


async def run(stream: EventStream, leave_after: int | None = None, fail_at: int | None = None):
    """Plays the client: collects what is sent; leaves after `leave_after` events; `send` fails on message
    `fail_at` (the connection broke)."""
    sent: list[dict] = []
    left = asyncio.Event()

    async def receive():
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if fail_at is not None and len(sent) == fail_at:
            raise ConnectionResetError("gone")
        sent.append(message)
        if leave_after is not None and len(events_in(sent)) >= leave_after:
            left.set()

    await asyncio.wait_for(stream({"type": "http"}, receive, send), 5)
    return sent


def events_in(sent: list[dict]) -> list[str]:
    chunks = [m.get("body", b"") for m in sent if m["type"] == "http.response.body"]
    return [json.loads(c.split(b"data: ", 1)[1])["status"] for c in chunks if b"data: " in c]


def hub_and_updates() -> tuple[EventHub, asyncio.Queue]:
    hub = EventHub("redis://127.0.0.1:1")  # never started: no connection is made
    return hub, hub.subscribe(str(SUB))


async def never() -> None:
    raise AssertionError("no re-read expected")


def test_it_sends_each_later_status_then_ends_and_unsubscribes():
    async def scenario():
        hub, updates = hub_and_updates()
        for status in ("grading", "queued", "graded"):  # a late `queued` is not sent
            updates.put_nowait(payload(status))
        sent = await run(EventStream(payload("queued"), updates, hub, SUB, never))
        return hub, sent

    hub, sent = asyncio.run(scenario())
    start = sent[0]
    assert start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert not any(k == b"content-length" for k, _ in start["headers"])
    assert events_in(sent) == ["queued", "grading", "graded"]
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert hub.listeners == {}


def test_a_quiet_stream_sends_a_keepalive_and_reads_again():
    async def scenario():
        hub, updates = hub_and_updates()

        async def reread():
            return payload("graded")

        stream = EventStream(payload("grading"), updates, hub, SUB, reread, keepalive=0.05)
        return hub, await run(stream)

    hub, sent = asyncio.run(scenario())
    bodies = [m.get("body") for m in sent[1:]]
    assert b": keepalive\n\n" in bodies
    assert events_in(sent) == ["grading", "graded"] and hub.listeners == {}


def test_a_client_that_leaves_or_breaks_the_connection_gives_the_subscription_back():
    async def scenario(**how):
        hub, updates = hub_and_updates()
        stream = EventStream(payload("queued"), updates, hub, SUB, never, keepalive=60)
        sent = await run(stream, **how)
        return hub, sent

    hub, sent = asyncio.run(scenario(leave_after=1))
    assert events_in(sent) == ["queued"] and hub.listeners == {}, "left: the stream stops at once"
    hub, sent = asyncio.run(scenario(fail_at=1))
    assert len(sent) == 1 and hub.listeners == {}, "a broken connection ends it quietly"
