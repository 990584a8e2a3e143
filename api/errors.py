"""Errors as clear JSON: `{"detail": "<what is wrong and what to do>", ...}` with the right status code.

Every failure is an answer: bad input a 4xx that says what to fix; a dependency that is down (PostgreSQL, Redis,
Temporal) a 503 that names it, with `Retry-After`; anything else a JSON 500 with the request's id, logged as one
line. Never a text/plain 500 or a dropped connection.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg.exceptions as pg
import orjson
import redis.exceptions as redis_errors
import sqlalchemy.exc as sa
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger("gradeflow.api.errors")

RETRY_AFTER_SECONDS = 5
POSTGRES, REDIS, TEMPORAL = "PostgreSQL", "Redis", "Temporal"
REQUEST_ID = "x-request-id"

# asyncpg's errors that mean "no usable connection", not "this statement is wrong".
_PG_CONNECTION = (
    pg.PostgresConnectionError,
    pg.InterfaceError,
    pg.CannotConnectNowError,
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.TooManyConnectionsError,
)
_TEMPORAL_DOWN = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
}


class BodyTooLarge(Exception):
    """A request body (chunked, or longer than its Content-Length said) went over the limit while being read."""


class ApiError(Exception):
    def __init__(
        self, status_code: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers
        self.extra = extra


def unavailable(dependency: str, what: str = "") -> ApiError:
    """The 503 for a dependency that is down: names it and says when to try again."""
    return ApiError(
        503,
        f"{dependency} is unavailable{f' ({what})' if what else ''}; nothing was changed by this "
        f"request. Try again in a few seconds.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        dependency=dependency,
    )


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _raised_in(exc: BaseException, *packages: str) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        if any(name == p or name.startswith(p + ".") for p in packages):
            return True
        tb = tb.tb_next
    return False


def dependency_of(exc: BaseException) -> str | None:
    """Which dependency being unreachable (or too slow) `exc` means, or None when it means something else."""
    for leaf in _leaves(exc):
        chain = [leaf, leaf.__cause__, leaf.__context__]
        orig = getattr(leaf, "orig", None)
        if isinstance(leaf, (sa.OperationalError, sa.TimeoutError)) or (
            isinstance(leaf, sa.DBAPIError)
            and (
                leaf.connection_invalidated
                or isinstance(orig, _PG_CONNECTION)
                or isinstance(getattr(orig, "__cause__", None), _PG_CONNECTION)
            )
        ):
            return POSTGRES
        if isinstance(leaf, _PG_CONNECTION):
            return POSTGRES
        if isinstance(leaf, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
            return REDIS
        if isinstance(leaf, RPCError) and leaf.status in _TEMPORAL_DOWN:
            return TEMPORAL
        if _temporal_connect_failed(leaf):
            return TEMPORAL
        if any(isinstance(e, (OSError, TimeoutError)) for e in chain if e is not None):
            # A refused or timed-out connection, attributed by where it was raised.
            if _raised_in(leaf, "asyncpg", "sqlalchemy"):
                return POSTGRES
            if _raised_in(leaf, "redis"):
                return REDIS
            if _raised_in(leaf, "temporalio"):
                return TEMPORAL
    return None


def _temporal_connect_failed(exc: BaseException) -> bool:
    """The SDK's lazy client could not connect: it says so with a bare RuntimeError."""
    return (
        isinstance(exc, RuntimeError)
        and str(exc).startswith("Failed client connect")
        and _raised_in(exc, "temporalio")
    )


def in_words(exc: BaseException) -> str:
    """An unreachable dependency in words, for /health and logs: no stack, no paths."""
    leaf = _leaves(exc)[0]
    causes = [leaf, getattr(leaf, "orig", None), leaf.__cause__, leaf.__context__]
    for e in causes:
        if isinstance(e, (ConnectionRefusedError, FileNotFoundError)):
            return "unreachable: connection refused (is it running?)"
        if isinstance(e, (TimeoutError, redis_errors.TimeoutError, sa.TimeoutError)):
            return "unreachable: no answer in time"
        if isinstance(e, (pg.CannotConnectNowError, pg.AdminShutdownError)):
            return "unreachable: starting up or shutting down"
        if isinstance(e, redis_errors.BusyLoadingError):
            return "unreachable: loading its data"
    if isinstance(leaf, RPCError):
        return f"unreachable: {leaf.status.name.lower().replace('_', ' ')}"
    if isinstance(leaf, RuntimeError) and str(leaf).startswith("Failed client connect"):
        return (
            "unreachable: connection refused (is it running?)"
            if "refused" in str(leaf).lower()
            else "unreachable: cannot connect"
        )
    if dependency_of(leaf) is not None:
        return "unreachable: connection lost"
    return f"error: {type(leaf).__name__}"


def _field(loc: tuple) -> str:
    """`body.io_cases.0.stdin` -> `io_cases.0.stdin`; `query.limit` -> `limit`: the name the caller used."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "path", "query", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_message(errors: Sequence[Any]) -> str:
    messages = []
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "")
            messages.append(f"The request body is not valid JSON ({reason}). Send a JSON object.")
        elif err.get("type") == "missing":
            messages.append(f"{_field(err['loc'])} is required.")
        elif err.get("type") == "extra_forbidden":
            messages.append(f"{_field(err['loc'])} is not a field of this request; remove it.")
        else:
            messages.append(f"{_field(err['loc'])}: {err['msg']}.")
    return " ".join(messages)


def _request_id(scope: Scope) -> str:
    return scope.setdefault("state", {}).setdefault("request_id", uuid.uuid4().hex[:16])


def answer_for(exc: BaseException, request_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for an exception no route turned into an answer."""
    dependency = dependency_of(exc)
    if dependency is not None:
        err = unavailable(dependency, in_words(exc))
        return (
            err.status_code,
            {"detail": err.detail, **err.extra, "request_id": request_id},
            err.headers or {},
        )
    if any(isinstance(leaf, BodyTooLarge) for leaf in _leaves(exc)):
        return 413, {"detail": str(_leaves(exc)[0]), "request_id": request_id}, {}
    if any(isinstance(leaf, sa.DataError) for leaf in _leaves(exc)):
        # A value the edge let through but PostgreSQL cannot store: still the request's fault.
        return (
            422,
            {
                "detail": "A value in the request cannot be stored (out of range or not valid text). Check "
                "numbers and text fields and send it again.",
                "request_id": request_id,
            },
            {},
        )
    return (
        500,
        {
            "detail": f"Something went wrong on our side; it has been logged as request {request_id}. "
            "Try again, and tell an operator if it keeps happening.",
            "request_id": request_id,
        },
        {},
    )


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return (
        f"{last.tb_frame.f_code.co_filename.rsplit('/', 2)[-1]}:{last.tb_lineno}" if last else "?"
    )


class ErrorsAsAnswers:
    """Outermost middleware: an exception no route answered becomes a JSON answer (503 naming the dependency,
    422 for a value PostgreSQL refused, else 500) and one log line with the request's id, method and path. A
    response already under way (an events stream) is ended cleanly instead of dropped. Each response carries
    the request's id in `X-Request-ID`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: every failure gets an answer
            status, body, headers = answer_for(exc, request_id)
            leaf = _leaves(exc)[0]
            line = (
                f"{scope.get('method')} {scope.get('path')} -> {status}: {type(leaf).__name__}: "
                f"{str(leaf)[:200]} at {_where(leaf)}"
            )
            extra = {"request_id": request_id}
            (log.warning if status < 500 or status == 503 else log.error)(line, extra=extra)
            if finished:
                return
            # A stream under way: end it, so the client sees the end rather than a reset
            if started:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"x-request-id", request_id.encode()),
                        *[(k.lower().encode(), v.encode()) for k, v in headers.items()],
                    ],
                }
            )
            await send({"type": "http.response.body", "body": orjson.dumps(body)})


def api_error_answer(exc: ApiError) -> JSONResponse:
    """How an ApiError is told: its status, its words and what else it carries, and its headers."""
    return JSONResponse(
        {"detail": exc.detail, **exc.extra}, status_code=exc.status_code, headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return api_error_answer(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers a body it cannot decode with a bare 400; say what is wrong instead.
        if isinstance(exc.__cause__, UnicodeDecodeError):
            return JSONResponse(
                {
                    "detail": f"The request body is not valid UTF-8 ({exc.__cause__.reason} at byte "
                    f"{exc.__cause__.start}). Send JSON encoded as UTF-8."
                },
                status_code=422,
            )
        # Raised while FastAPI read the body, and wrapped by it as a 400.
        if isinstance(exc.__cause__, BodyTooLarge):
            return JSONResponse({"detail": str(exc.__cause__)}, status_code=413)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        simple = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in errors
        ]
        return JSONResponse(
            {"detail": validation_message(errors), "errors": simple}, status_code=422
        )
