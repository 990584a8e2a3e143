"""What a thousand students do at a deadline, answered in plain ASGI ahead of FastAPI, whose routing, dependencies
and body validation cost several times the work itself (BENCHMARKS.md, "The live path"):

- submitting (`POST /api/v1/assignments/{id}/submissions`) with a body that is just `{"code": "..."}` and a known
  token: `accept`, as the route calls it;
- reading a submission (`GET /api/v1/submissions/{id}`) and opening its events stream (`…/events`), by the
  submission's author whose token this process knows, for a status the cache can be trusted with
  (gradeflow.status_cache): one Redis read, no database.

Everything else goes on to the routes (create_submission, read_submission, submission_events), which answer the same
way through `accept`, `status_answer`, `own_cached` and `follow`: a body with anything else in it or none at all, an
unknown token, a cache miss, someone else's submission, an entry to check against PostgreSQL, Redis down."""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.datastructures import State
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import Principal
from api.errors import ApiError, BodyTooLarge, api_error_answer
from api.params import INT32_MAX, storable
from api.routes.submissions.routes import (
    accept,
    create_submission,
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
SUBMIT_PATH = re.compile(r"/api/v1/assignments/([1-9][0-9]{0,9})/submissions")
# What the metrics label the requests answered here by
ROUTES = {
    name: next(r for r in router.routes if getattr(r, "name", None) == name)
    for name in (
        create_submission.__name__,
        read_submission.__name__,
        submission_events.__name__,
    )
}


class DeadlinePaths:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = SUBMIT_PATH.fullmatch(scope["path"])
            if found is not None and int(found.group(1)) <= INT32_MAX:
                await self.submit(scope, receive, send, int(found.group(1)))
                return
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
        found = await self.caller(scope, submission_id)
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
        found = await self.caller(scope, submission_id)
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

    async def submit(self, scope: Scope, receive: Receive, send: Send, assignment_id: int) -> None:
        try:
            body = await whole_body(receive)
        except BodyTooLarge as exc:  # as the route answers it
            await JSONResponse({"detail": str(exc)}, status_code=413)(scope, receive, send)
            return
        if (
            body is None
        ):  # the client left before its body was whole: nothing is accepted, nobody to answer
            return
        headers = dict(scope["headers"])
        code, token = plain_code(headers, body), bearer(headers)
        state = scope["app"].state
        user = await submitter(state, token) if code is not None and token is not None else None
        if code is None or user is None:  # the route reads, checks and refuses it, as it would have
            await self.app(scope, replay(body, receive), send)
            return
        scope["route"] = ROUTES[create_submission.__name__]
        try:
            answer = await accept(state, state.settings, user, assignment_id, code)
        except ApiError as exc:
            answer = api_error_answer(exc)
        await answer(scope, receive, send)

    @staticmethod
    async def caller(scope: Scope, submission_id: str) -> tuple[State, Principal, uuid.UUID] | None:
        """The app's state, who calls (looked up if this process has not seen their token: in a rush a student's
        submission and their events stream often reach different API processes) and the submission they ask
        for."""
        token = bearer(dict(scope["headers"]))
        if token is None:
            return None
        try:
            sub_id = uuid.UUID(submission_id)
        except ValueError:
            return None
        state = scope["app"].state
        user = await submitter(state, token)
        return (state, user, sub_id) if user is not None else None


async def answerable(state: State, user: Principal, sub_id: uuid.UUID) -> dict[str, Any] | None:
    """The caller's own submission from the status cache, when it may be answered from there alone."""
    try:
        raw = await state.redis.get(redis_keys.submission_status(str(sub_id)))
    except (RedisError, OSError):
        return None
    found = await own_cached(raw, user, state.doubt)
    return found[0] if found is not None and found[1] else None


async def submitter(state: State, token: str) -> Principal | None:
    """Who holds `token`, looked up if need be; None also when PostgreSQL does not answer (the route looks again
    and answers the 503, or the status from Redis)."""
    try:
        return await state.tokens.principal(token)
    except Exception:  # noqa: BLE001 - see above
        return None


async def whole_body(receive: Receive) -> bytes | None:
    """The request's body, read to its end (the size limits around this app stop one that is too large); None
    when the client left first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the route, with the body already read given back first."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def plain_code(headers: dict[bytes, bytes], body: bytes) -> str | None:
    """The code of a body that is JSON holding `code` (storable text) and nothing else; None for anything the
    route's validation must look at (and answer)."""
    if not headers.get(b"content-type", b"").lower().startswith(b"application/json"):
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.keys() != {"code"} or not isinstance(data["code"], str):
        return None
    try:
        return storable(data["code"])
    except ValueError:
        return None


def bearer(headers: dict[bytes, bytes]) -> str | None:
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
