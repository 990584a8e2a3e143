"""The API's own Prometheus metrics: requests by method, route (its template, never the raw path) and status, and
their latency; served at /metrics for Prometheus to scrape.

prometheus_client (the reference client) counts; the API runs one process per core, so each process writes its
samples to files under PROMETHEUS_MULTIPROC_DIR (the client's multiprocess mode, set up by `gradeflow api` before
uvicorn forks) and /metrics adds them up: one scrape sees every process. Without that variable (a single process,
the tests' in-process app) the default registry is served.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds; the API answers most requests in milliseconds, submissions in tens of them.
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "gradeflow_api_requests",
    "HTTP requests answered by the API, by method, route template and status code",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "gradeflow_api_request_duration_seconds",
    "Time from a request's arrival to its answer's first byte, by method and route template",
    ["method", "route"],
    buckets=BUCKETS,
)
# A path that matched no route is counted under one label, so scanners cannot grow the metrics without bound.
UNMATCHED = "unmatched"
# Streams stay open for minutes: their latency is the time to their first byte, which is what the histogram takes.
NOT_MEASURED = {"/metrics"}


class RequestMetrics:
    """Plain ASGI (cheaper than an http middleware): counts each answer and times it to its first byte.

    `templates`: operation id (the route's name) -> its full path template. FastAPI keeps an included router's
    routes with their own paths (without the router's prefix), so the full template comes from the OpenAPI
    document, where every operation has one; routes outside it (the probes) use their own path."""

    def __init__(self, app: ASGIApp, templates: Callable[[], dict[str, str]]) -> None:
        self.app = app
        self.templates = templates

    def label(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        return self.templates().get(getattr(route, "name", ""), getattr(route, "path", UNMATCHED))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NOT_MEASURED:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception that escapes everything inside is answered 500 by the server
        route: str | None = None

        async def timed_send(message: Message) -> None:
            nonlocal status, route
            if message["type"] == "http.response.start":
                status, route = message["status"], self.label(scope)
                LATENCY.labels(scope["method"], route).observe(time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            REQUESTS.labels(scope["method"], route or self.label(scope), str(status)).inc()


def operation_paths(openapi: dict[str, Any]) -> dict[str, str]:
    """Operation id -> path template, from an OpenAPI document."""
    return {
        operation["operationId"]: path
        for path, item in openapi.get("paths", {}).items()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def registry() -> CollectorRegistry | None:
    """Every process's samples in multiprocess mode; None: this process's default registry."""
    if not os.environ.get(MULTIPROC_ENV):
        return None
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


async def metrics(_: Request) -> Response:
    collected = registry()
    body = generate_latest(collected) if collected is not None else generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
