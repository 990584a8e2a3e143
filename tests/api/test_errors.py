"""Failing well, without services: which dependency an exception means, the words /health uses, 422 messages
as sentences, and the catch-all middleware answering JSON (tested on a tiny ASGI app)."""

from __future__ import annotations

import logging

import asyncpg.exceptions as pg
import httpx
import redis.exceptions as redis_errors
import sqlalchemy.exc as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import StreamingResponse
from starlette.routing import Route
from temporalio.service import RPCError, RPCStatusCode

from api.errors import (
    POSTGRES,
    REDIS,
    TEMPORAL,
    ErrorsAsAnswers,
    answer_for,
    dependency_of,
    in_words,
    validation_message,
)
from tests.conftest import run_async


def test_dependency_of_names_the_dependency_that_is_down():
    refused = ConnectionRefusedError(111, "Connection refused")
    assert dependency_of(sa.OperationalError("SELECT 1", {}, refused)) == POSTGRES
    assert (
        dependency_of(sa.InterfaceError("SELECT 1", {}, pg.ConnectionDoesNotExistError("gone")))
        == POSTGRES
    )
    assert dependency_of(pg.CannotConnectNowError("the database system is starting up")) == POSTGRES
    assert dependency_of(sa.TimeoutError("QueuePool limit reached")) == POSTGRES
    assert dependency_of(redis_errors.ConnectionError("Error 111 connecting")) == REDIS
    assert dependency_of(redis_errors.TimeoutError("Timeout reading from socket")) == REDIS
    assert dependency_of(RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")) == TEMPORAL
    assert dependency_of(ExceptionGroup("stream", [redis_errors.ConnectionError("x")])) == REDIS


def test_dependency_of_leaves_other_failures_alone():
    assert dependency_of(ValueError("a bug")) is None
    assert dependency_of(sa.IntegrityError("INSERT", {}, Exception("duplicate key"))) is None
    assert dependency_of(RPCError("bad run id", RPCStatusCode.INVALID_ARGUMENT, b"")) is None
    assert dependency_of(ConnectionRefusedError(111, "refused")) is None, (
        "not raised by a dependency's client"
    )


def test_in_words_says_what_is_wrong_without_a_stack():
    assert (
        in_words(sa.OperationalError("x", {}, FileNotFoundError(2, "No such file")))
        == "unreachable: connection refused (is it running?)"
    )
    assert in_words(redis_errors.TimeoutError("Timeout")) == "unreachable: no answer in time"
    assert (
        in_words(RuntimeError("Failed client connect: Server connection error"))
        == "unreachable: cannot connect"
    )
    assert (
        in_words(RuntimeError("Failed client connect: tcp connect error: Connection refused"))
        == "unreachable: connection refused (is it running?)"
    )
    assert in_words(KeyError("x")) == "error: KeyError"


def test_answers_for_failures_no_route_answered():
    status, body, headers = answer_for(redis_errors.ConnectionError("down"), "r1")
    assert (status, body["dependency"], headers["Retry-After"]) == (503, "Redis", "5")
    assert body["detail"].startswith("Redis is unavailable")
    status, body, _ = answer_for(
        sa.DataError("INSERT", {}, Exception("invalid byte sequence")), "r2"
    )
    assert status == 422 and "cannot be stored" in body["detail"]
    status, body, _ = answer_for(ZeroDivisionError("division by zero"), "r3")
    assert status == 500 and body["request_id"] == "r3" and "r3" in body["detail"]


def app_that_fails() -> Starlette:
    async def boom(request):
        raise ZeroDivisionError("division by zero")

    async def stream(request):
        async def body():
            yield b"data: first\n\n"
            raise redis_errors.ConnectionError("lost")

        return StreamingResponse(body(), media_type="text/event-stream")

    # As in api.main: a middleware of the app, so inside Starlette's own last-resort handler.
    return Starlette(
        routes=[Route("/boom", boom), Route("/stream", stream)],
        middleware=[Middleware(ErrorsAsAnswers)],
    )


def test_the_catch_all_answers_json_and_logs_one_line(caplog):
    async def call():
        transport = httpx.ASGITransport(app=app_that_fails(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.get("/boom"), await c.get("/stream")

    with caplog.at_level(logging.WARNING, logger="gradeflow.api.errors"):
        boom, stream = run_async(call)
    assert boom.status_code == 500 and boom.headers["content-type"] == "application/json"
    request_id = boom.headers["x-request-id"]
    assert boom.json()["request_id"] == request_id
    assert stream.status_code == 200 and stream.text == "data: first\n\n", (
        "a stream under way ends cleanly"
    )
    lines = [r for r in caplog.records if r.name == "gradeflow.api.errors"]
    assert len(lines) == 2
    assert (
        lines[0]
        .getMessage()
        .startswith("GET /boom -> 500: ZeroDivisionError: division by zero at test_errors.py:")
    )
    assert lines[0].request_id == request_id
    assert lines[1].getMessage().startswith("GET /stream -> 503: ConnectionError: lost")


def test_a_lazy_temporal_client_that_cannot_connect_means_temporal():
    """The API's client is the SDK's lazy one: its failure to connect (a bare RuntimeError from inside the SDK)
    is a 503 naming Temporal, not a 500. Real SDK, nothing listening on the port."""
    import socket

    from tests.conftest import run_async
    from workflows.client import connect

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def describe_something():
        client = await connect(f"127.0.0.1:{port}", "default", prompt=True, lazy=True)
        try:
            await client.get_workflow_handle("grade-x").describe()
        except Exception as exc:  # noqa: BLE001 - the test looks at whatever it raised
            return exc
        return None

    exc = run_async(describe_something)
    assert exc is not None and dependency_of(exc) == TEMPORAL, repr(exc)
    assert in_words(exc) == "unreachable: connection refused (is it running?)"
    assert dependency_of(RuntimeError("Failed client connect: raised by our own code")) is None


def test_validation_messages_read_as_sentences():
    assert (
        validation_message([{"type": "missing", "loc": ("body", "code"), "msg": "Field required"}])
        == "code is required."
    )
    assert validation_message(
        [
            {
                "type": "json_invalid",
                "loc": ("body", 3),
                "msg": "JSON decode error",
                "ctx": {"error": "Expecting value"},
            }
        ]
    ).startswith("The request body is not valid JSON")
