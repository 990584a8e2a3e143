"""Assembles the FastAPI app: routers under /api/v1, error handlers, and the shared clients."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.client import Client

from api.deps import TokenCache
from api.errors import install_error_handlers
from api.events import EventHub
from api.routes import assignments, cohorts, health, me, ops, regrades, submissions
from gradeflow import redis_keys
from gradeflow.db import make_engine, make_sessionmaker
from gradeflow.logs import configure as configure_logging
from gradeflow.settings import Settings, get_settings
from gradeflow.temporal import connect

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1024 * 1024


class LazyTemporal:
    """Connects on first use, so the API starts (and keeps accepting submissions) while Temporal is down."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: Client | None = None
        self.lock = asyncio.Lock()

    async def __call__(self) -> Client:
        async with self.lock:
            if self.client is None:
                if self.settings.temporal_address is None:
                    raise RuntimeError("GRADEFLOW_TEMPORAL_ADDRESS is not set")
                self.client = await connect(self.settings.temporal_address, self.settings.temporal_namespace)
            return self.client


class BodyLimit:
    """Refuses a request whose Content-Length is over the limit with a 413 that says so. Plain ASGI rather than
    `@app.middleware("http")`, whose wrapping of every request costs a task and a stream copy each."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_bytes:
                response = JSONResponse({"detail": f"Request body is {int(length):,} bytes; the limit is "
                                                   f"{self.max_bytes:,} bytes."}, status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings.require("database_url", "redis_url")
        configure_logging(settings.log_format)  # each uvicorn worker is a fresh process: set up its logging too
        app.state.settings = settings
        # No pre-ping: with asyncpg it costs three round trips per checkout. After a PostgreSQL restart the first
        # failure invalidates the whole pool, so one request fails instead of every request paying.
        app.state.engine = make_engine(settings.database_url, pre_ping=False)  # type: ignore[arg-type]
        app.state.sessions = make_sessionmaker(app.state.engine)
        app.state.redis = redis_keys.connect(settings.redis_url)  # type: ignore[arg-type]
        app.state.temporal = LazyTemporal(settings)
        app.state.tokens = TokenCache(app.state.engine, settings.token_cache_seconds)
        app.state.events = EventHub(settings.redis_url)  # type: ignore[arg-type]
        app.state.events.start()
        yield
        await app.state.events.close()
        await app.state.redis.aclose()
        await app.state.engine.dispose()

    app = FastAPI(
        title="GradeFlow API",
        version="0.1.0",
        description="Submit code, follow its grading, manage assignments. Authenticate with "
                    "`Authorization: Bearer <token>` (tokens come from `gradeflow users add`).",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)

    for module in (health, assignments, submissions, me, cohorts, regrades, ops):
        app.include_router(module.router, prefix=API_PREFIX)
    return app


app = create_app()
