"""Assembles the FastAPI app: routers under /api/v1, error handlers, and the shared clients."""

from __future__ import annotations

import functools
import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import TokenCache
from api.errors import BodyTooLarge, ErrorsAsAnswers, install_error_handlers
from api.events import EventHub
from api.metrics import RequestMetrics, metrics, operation_paths
from api.pending import QueueWatch
from api.routes import (
    assignments,
    cohorts,
    health,
    languages,
    lti,
    me,
    ops,
    regrades,
    similarity,
    submissions,
)
from api.routes.submissions.fast import DeadlinePaths
from gradeflow import redis_keys
from gradeflow.db import make_engine, make_sessionmaker
from gradeflow.logs import configure as configure_logging
from gradeflow.settings import Settings, get_settings
from gradeflow.status_cache import Doubt
from workflows.client import connect, temporal_access

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 32 * 1024
# No request waits longer on PostgreSQL than this: a stalled database becomes a 503, not a hung page.
STATEMENT_TIMEOUT_SECONDS = 30


class Limits:
    """Request size limits, as plain ASGI (cheaper than `@app.middleware("http")`, which costs a task and a
    stream copy per request): headers over `max_header_bytes` in total are refused with 431; a body over
    `max_body_bytes` with 413, whether its Content-Length says so up front or it arrives chunked and grows past
    the limit while being read."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, max_header_bytes: int, max_code_bytes: int
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.max_code_bytes = max_code_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_bytes = sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if header_bytes > self.max_header_bytes:
            await JSONResponse(
                {
                    "detail": f"Request headers are {header_bytes:,} bytes; the limit is "
                    f"{self.max_header_bytes:,} bytes. Send fewer or shorter headers."
                },
                status_code=431,
            )(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body_bytes:
            await JSONResponse({"detail": self._too_large(scope, int(length))}, status_code=413)(
                scope, receive, send
            )
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self._too_large(scope, received, so_far=True))
            return message

        await self.app(scope, receive if length.isdigit() else counting_receive, send)

    def _too_large(self, scope: Scope, size: int, so_far: bool = False) -> str:
        """What is too large, and for a submission the limit that counts for the student: the code's."""
        code = (
            f" The code of a submission may be at most {self.max_code_bytes // 1024} KiB: submit only "
            "your solution."
            if scope["path"].endswith("/submissions")
            else ""
        )
        return (
            f"Request body is {'over ' if so_far else ''}{size:,} bytes; the limit is {self.max_body_bytes:,} "
            f"bytes.{code}"
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings.require("database_url", "redis_url", "temporal_address")
        # Each uvicorn worker is a fresh process: set up its logging too
        configure_logging(settings.log_format)
        app.state.settings = settings
        # No pre-ping: with asyncpg it costs three round trips per checkout. After a PostgreSQL restart the first
        # failure invalidates the whole pool, so one request fails instead of every request paying.
        app.state.engine = make_engine(
            settings.need("database_url"),
            # Kept open, none beyond: under a burst, connections opened past the pool were closed as soon as they
            # were given back and opened again for the next request (70 new PostgreSQL sessions for 1,000
            # submissions, each a server process to start).
            pool_size=settings.api_db_connections,
            max_overflow=0,
            pre_ping=False,
            statement_timeout=STATEMENT_TIMEOUT_SECONDS,
        )
        app.state.sessions = make_sessionmaker(app.state.engine)
        app.state.redis = redis_keys.connect(settings.need("redis_url"))
        app.state.temporal = await connect(
            settings.need("temporal_address"),
            settings.temporal_namespace,
            prompt=True,
            lazy=True,
            access=temporal_access(settings),
        )
        app.state.tokens = TokenCache(app.state.engine, settings.token_cache_seconds)
        app.state.tokens.start()
        app.state.queue = QueueWatch(app.state.redis)
        app.state.doubt = Doubt(app.state.engine, app.state.redis)
        app.state.events = EventHub(
            settings.need("redis_url"), on_token_changed=app.state.tokens.forget
        )
        app.state.events.start()
        # Built now rather than by the first request: a process started just before a deadline would otherwise
        # build the OpenAPI document (the metrics' route templates) while the rush waits.
        app.state.route_templates()
        # What the process built to start (the app, its routes and models, the clients) lives as long as it does:
        # out of the collector's way, so that a full collection in a rush walks only what requests made. Three
        # alternating pairs of fresh stacks, 1,000 accepts with their events streams: the API's CPU 1.44-1.64 ->
        # 1.31-1.48 ms a submission (BENCHMARKS.md).
        gc.freeze()
        yield
        await app.state.events.close()
        await app.state.tokens.close()
        await app.state.redis.aclose()
        await app.state.engine.dispose()

    app = FastAPI(
        title="GradeFlow API",
        version="0.1.0",
        description="Submit code, follow its grading, manage assignments. Authenticate with "
        "`Authorization: Bearer <token>` (tokens come from `gradeflow users add`).",
        lifespan=lifespan,
        # Operation ids are the route functions' names (create_submission, read_regrade, …), not FastAPI's
        # generated path-and-method strings: readable in generated clients and in schemathesis reports.
        generate_unique_id_function=lambda route: route.name,
        # GradeFlow's metrics are Prometheus's (/metrics); FastAPI's OpenTelemetry hooks would look for a configured
        # provider on every request (3% of the API's CPU when accepting a rush) to find none.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)

    # Innermost: what students following their gradings repeat, in plain ASGI ahead of FastAPI's routing (inside
    # the size limits and the error answers, which hold for it too)
    app.add_middleware(DeadlinePaths)
    app.add_middleware(
        Limits,
        max_body_bytes=MAX_BODY_BYTES,
        max_header_bytes=MAX_HEADER_BYTES,
        max_code_bytes=settings.max_code_bytes,
    )
    # Outside all but the metrics: it answers for everything inside it
    app.add_middleware(ErrorsAsAnswers)

    for module in (
        health,
        assignments,
        submissions,
        me,
        cohorts,
        regrades,
        similarity,
        languages,
        ops,
        lti,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(health.probes)
    app.include_router(lti.protocol)  # where an LMS sends browsers: /lti/login, /lti/launch, …
    app.add_route("/metrics", metrics, include_in_schema=False)
    # Outermost: it counts every answer, those of the error handlers and the size limits included
    app.state.route_templates = functools.cache(lambda: operation_paths(app.openapi()))
    app.add_middleware(RequestMetrics, templates=app.state.route_templates)
    return app


app = create_app()
