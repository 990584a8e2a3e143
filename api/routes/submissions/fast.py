"""What a thousand students following their gradings repeat, answered in plain ASGI ahead of FastAPI: reading a
submission (`GET /api/v1/submissions/{id}`) and opening its events stream (`…/events`), by the submission's author
whose token this process knows, for a status the cache can be trusted with (gradeflow.status_cache). One Redis read,
no database, no dependency injection: FastAPI's routing and dependencies cost several times the read itself
(BENCHMARKS.md, "The live path").

Everything else goes on to the routes (read_submission, submission_events), which answer the same way through
`status_answer`, `own_cached` and `follow`: a token not cached yet, a cache miss, someone else's submission, an entry to
check against PostgreSQL, Redis down."""

from __future__ import annotations

import re
import uuid
from typing import Any

from redis.exceptions import RedisError
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import Principal
from api.routes.submissions.routes import (
    follow,
    own_cached,
    read_submission,
    rereader,
    router,
    status_answer,
    submission_events,
)
from gradeflow import redis_keys

SUBMISSION_PATH = re.compile(r"/api/v1/submissions/([0-9a-fA-F-]{32,36})(/events)?")
# What the metrics label the requests answered here by
ROUTES = {
    name: next(r for r in router.routes if getattr(r, "name", None) == name)
    for name in (read_submission.__name__, submission_events.__name__)
}


class StatusReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            found = SUBMISSION_PATH.fullmatch(scope["path"])
            if found is not None:
                answered = await (self.events if found.group(2) else self.read)(
                    scope, receive, send, found.group(1)
                )
                if answered:
                    return
        await self.app(scope, receive, send)

    async def read(self, scope: Scope, receive: Receive, send: Send, submission_id: str) -> bool:
        found = self.caller(scope, submission_id)
        if found is None:
            return False
        state, user, sub_id = found
        payload = await answerable(state, user, sub_id)
        if payload is None:
            return False
        scope["route"] = ROUTES[read_submission.__name__]
        if_none_match = dict(scope["headers"]).get(b"if-none-match", b"").decode("latin-1")
        answer = await status_answer(state.queue, payload, if_none_match or None)
        await answer(scope, receive, send)
        return True

    async def events(self, scope: Scope, receive: Receive, send: Send, submission_id: str) -> bool:
        found = self.caller(scope, submission_id)
        if found is None:
            return False
        state, user, sub_id = found
        stream = await follow(
            state.events,
            sub_id,
            lambda: answerable(state, user, sub_id),
            rereader(state, user, sub_id),
        )
        if stream is None:
            return False
        scope["route"] = ROUTES[submission_events.__name__]
        await stream(scope, receive, send)
        return True

    @staticmethod
    def caller(scope: Scope, submission_id: str) -> tuple[State, Principal, uuid.UUID] | None:
        """The app's state, who calls (if this process knows their token) and the submission they ask for."""
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        state = scope["app"].state
        user = state.tokens.cached(token.strip())
        try:
            return (state, user, uuid.UUID(submission_id)) if user is not None else None
        except ValueError:
            return None


async def answerable(state: State, user: Principal, sub_id: uuid.UUID) -> dict[str, Any] | None:
    """The caller's own submission from the status cache, when it may be answered from there alone."""
    try:
        raw = await state.redis.get(redis_keys.submission_status(str(sub_id)))
    except (RedisError, OSError):
        return None
    found = await own_cached(raw, user, state.doubt)
    return found[0] if found is not None and found[1] else None
