"""What a thousand students following their gradings repeat, answered in plain ASGI ahead of FastAPI: reading a
submission (`GET /api/v1/submissions/{id}`) and opening its events stream (`…/events`), by the submission's author
whose token this process knows, for a status the cache can be trusted with (gradeflow.status_cache). One Redis read,
no database, no dependency injection: FastAPI's routing and dependencies cost several times the read itself
(BENCHMARKS.md, "The live path").

Everything else goes on to the routes (read_submission, submission_events), which answer the same way through
`status_answer` and `EventStream`: a token not cached yet, a cache miss, someone else's submission, an entry to
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
    EventStream,
    read_submission,
    rereader,
    router,
    status_answer,
    submission_events,
)
from gradeflow import redis_keys
from gradeflow.status_cache import from_cache, rank, trusted
from gradeflow.vocabulary import FINAL_RANK

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
        found = await self.cached(scope, submission_id)
        if found is None:
            return False
        state, _, _, payload = found
        scope["route"] = ROUTES[read_submission.__name__]
        if_none_match = dict(scope["headers"]).get(b"if-none-match", b"").decode("latin-1")
        answer = await status_answer(state.queue, payload, if_none_match or None)
        await answer(scope, receive, send)
        return True

    async def events(self, scope: Scope, receive: Receive, send: Send, submission_id: str) -> bool:
        hub = scope["app"].state.events
        # Subscribed before the read, as the route does, so that a change published meanwhile is not missed
        updates = hub.subscribe(submission_id.lower())
        try:
            found = await self.cached(scope, submission_id)
        except BaseException:
            hub.unsubscribe(submission_id.lower(), updates)
            raise
        if found is None or str(found[2]) != submission_id.lower():
            hub.unsubscribe(submission_id.lower(), updates)
            return False
        state, user, sub_id, payload = found
        scope["route"] = ROUTES[submission_events.__name__]
        reread = rereader(state.sessions, state.redis, state.doubt, user, sub_id)
        await EventStream(payload, updates, hub, sub_id, reread)(scope, receive, send)
        return True

    async def cached(
        self, scope: Scope, submission_id: str
    ) -> tuple[State, Principal, uuid.UUID, dict[str, Any]] | None:
        """The caller's own submission as the status cache holds it, when it may be answered from there alone."""
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
        return state, user, sub_id, payload
