"""Health: is each backing service reachable? 503 when one is not."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.errors import in_words
from api.routes.health.schemas import HealthOut
from api.schemas import errors

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 3.0


async def _check(probe) -> str:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
        return "ok"
    except TimeoutError:
        return f"unreachable: no answer within {CHECK_TIMEOUT:.0f} s"
    except Exception as exc:  # noqa: BLE001 - report any failure, in words
        return in_words(exc)


@router.get(
    "/health",
    response_model=HealthOut,
    responses={
        **errors(431, 500),
        503: {"model": HealthOut, "description": "A dependency is down"},
    },
)
async def health(request: Request):
    """No token needed. Each of database, Redis and Temporal is "ok" or what is wrong, in words."""
    state = request.app.state

    async def database():
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def redis():
        await state.redis.ping()

    async def temporal():
        await state.temporal.service_client.check_health()

    results = dict(
        zip(
            ("database", "redis", "temporal"),
            await asyncio.gather(_check(database), _check(redis), _check(temporal)),
            strict=True,
        )
    )
    healthy = all(v == "ok" for v in results.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", **results}, status_code=200 if healthy else 503
    )


# Probes for orchestrators (Kubernetes, compose healthchecks), at the root and not in the API's schema. Neither says
# more than which dependency is missing: the details are /api/v1/health's.
probes = APIRouter(include_in_schema=False)


@probes.get("/livez")
async def livez():
    """The process answers: restart it only when this fails."""
    return {"status": "alive"}


@probes.get("/readyz")
async def readyz(request: Request):
    """PostgreSQL and Redis answer (what every request needs; Temporal is not: submissions are accepted while it is
    down). 503 names the first missing dependency, never an exception's text."""
    state = request.app.state

    async def database():
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    for name, probe in (("postgresql", database), ("redis", state.redis.ping)):
        if await _check(probe) != "ok":
            return JSONResponse({"status": "not ready", "dependency": name}, status_code=503)
    return {"status": "ready"}
