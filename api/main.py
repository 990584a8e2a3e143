"""Assembles the FastAPI app: routers under /api/v1, error handlers, and the shared clients."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client

from api.deps import TokenCache
from api.errors import install_error_handlers
from api.events import EventHub
from api.routes import assignments, cohorts, health, me, ops, regrades, submissions
from gradeflow import redis_keys
from gradeflow.db import make_engine, make_sessionmaker
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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings.require("database_url", "redis_url")
        app.state.settings = settings
        app.state.engine = make_engine(settings.database_url)  # type: ignore[arg-type]
        app.state.sessions = make_sessionmaker(app.state.engine)
        app.state.redis = redis_keys.connect(settings.redis_url)  # type: ignore[arg-type]
        app.state.temporal = LazyTemporal(settings)
        app.state.tokens = TokenCache(settings.token_cache_seconds)
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

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"Request body is {int(length):,} bytes; the limit is "
                                           f"{MAX_BODY_BYTES:,} bytes."}, status_code=413)
        return await call_next(request)

    for module in (health, assignments, submissions, me, cohorts, regrades, ops):
        app.include_router(module.router, prefix=API_PREFIX)
    return app


app = create_app()
