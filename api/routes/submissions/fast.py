"""The status read a polling client repeats, answered in plain ASGI ahead of FastAPI: `GET /api/v1/submissions/{id}`
by the submission's author (or an operator) whose token this process knows, for a status the cache can be trusted
with (gradeflow.status_cache). One Redis read, no database, no dependency injection: FastAPI's routing and
dependencies cost about as much as the read itself (BENCHMARKS.md, "The live path with pollers").

Everything else goes on to the route (read_submission), which answers the same way through `status_answer`: a
token not cached yet, a cache miss, someone else's submission, an entry to check against PostgreSQL, Redis down."""

from __future__ import annotations

import re
import uuid
from typing import Any

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.routes.submissions.routes import read_submission, router, status_answer
from gradeflow import redis_keys
from gradeflow.status_cache import from_cache, rank, trusted
from gradeflow.vocabulary import FINAL_RANK

STATUS_PATH = re.compile(r"/api/v1/submissions/([0-9a-fA-F-]{32,36})")
ROUTE = next(r for r in router.routes if getattr(r, "name", None) == read_submission.__name__)


class StatusReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            found = STATUS_PATH.fullmatch(scope["path"])
            if found is not None:
                answer = await self.answer(scope, found.group(1))
                if answer is not None:
                    await answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def answer(self, scope: Scope, submission_id: str) -> Any:
        """The answer, or None: the route's to give."""
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        state = scope["app"].state
        user = state.tokens.cached(token.strip())
        if user is None:
            return None
        try:
            sub_id = uuid.UUID(submission_id)
            raw = await state.redis.get(redis_keys.submission_status(str(sub_id)))
        except (ValueError, RedisError, OSError):
            return None
        if not raw:
            return None
        payload, written = from_cache(raw)
        # The cached payload is the author's view (staff read theirs from PostgreSQL, through the route)
        if payload.get("user_id") != user.id:
            return None
        if rank(payload["status"]) != FINAL_RANK and not trusted(
            written, await state.doubt.current()
        ):
            return None
        scope["route"] = ROUTE  # what the metrics label the request by
        return await status_answer(
            state.queue, payload, headers.get(b"if-none-match", b"").decode("latin-1") or None
        )
