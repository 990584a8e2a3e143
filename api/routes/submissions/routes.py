"""Submissions: accept code, answer identical code from the cache, queue the rest for grading, report status."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from asyncpg.exceptions import UniqueViolationError
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from api.deps import CurrentUser, Principal, RedisDep, SessionDep, SettingsDep, teaches
from api.errors import POSTGRES, ApiError, dependency_of
from api.events import EventHub
from api.offerings import is_student, submission_rules
from api.params import AssignmentId, SubmissionId, uuid_of
from api.pending import QueueWatch
from api.routes.submissions.schemas import SubmissionCode, SubmissionCreate
from api.schemas import SIGNED_IN, SubmissionOut, errors
from gradeflow import redis_keys
from gradeflow.db import Prepared, driver_connection
from gradeflow.models import Submission
from gradeflow.policy import decide, graded_score
from gradeflow.redis_keys import best_effort
from gradeflow.settings import Settings
from gradeflow.status_cache import Doubt, from_cache, moved_on, rank, trusted, write_forward
from gradeflow.versions import code_hash
from gradeflow.views import submission_payload
from gradeflow.vocabulary import FINAL_RANK, PENDING_STATUSES, Role, SubmissionStatus
from workflows.config import grade_workflow_id

router = APIRouter(tags=["submissions"], responses=errors(*SIGNED_IN))
log = logging.getLogger(__name__)


def with_links(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        **payload,
        "links": {
            "self": f"/api/v1/submissions/{payload['id']}",
            "events": f"/api/v1/submissions/{payload['id']}/events",
            "assignment": f"/api/v1/assignments/{payload['assignment_id']}",
        },
    }


def json_response(body: Any, status_code: int = 200) -> Response:
    """A JSON answer encoded by orjson, skipping the response model's validation: for the hot paths, whose
    payloads are built by `submission_payload` and match SubmissionOut by construction."""
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def check_code(code: str, max_bytes: int) -> None:
    size = len(code.encode("utf-8"))  # encodable: the body's schema refuses lone surrogates
    if size > max_bytes:
        raise ApiError(
            413,
            f"code is {size:,} bytes; the limit is {max_bytes:,} bytes ({max_bytes // 1024} KiB). "
            "Submit only your solution.",
        )
    if not code.strip():
        raise ApiError(422, "code is empty. Paste your solution into the code field.")


async def check_rate(redis: Redis, user: Principal, per_minute: int) -> str | None:
    """Count this submission in the user's minute; 429 past the limit. Returns the counter's key, so a
    submission that is then not accepted can be taken back out of the same minute (None: Redis did not count)."""
    key = redis_keys.rate_limit(user.id, int(time.time() // 60))
    try:
        # No MULTI/EXEC: both are sent together, and the key names its minute (it cannot outlive it by much)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
    except (RedisError, OSError):  # without Redis, accept rather than refuse
        return None
    if count > per_minute:
        retry = 60 - int(time.time()) % 60
        raise ApiError(
            429,
            f"Too many submissions: at most {per_minute} a minute. Try again in {retry} s.",
            headers={"Retry-After": str(retry)},
        )
    return key


async def pending_submission(session: AsyncSession, user_id: int) -> uuid.UUID | None:
    return (
        (
            await session.execute(
                select(Submission.id).where(
                    Submission.user_id == user_id, Submission.status.in_(PENDING_STATUSES)
                )
            )
        )
        .scalars()
        .first()
    )


def pending_error(pending_id: uuid.UUID | str) -> ApiError:
    return ApiError(
        409,
        f"You already have a submission being graded ({pending_id}). Wait for its result, "
        "then submit again.",
        pending_submission_id=str(pending_id),
    )


# The intake in one statement and one round trip (autocommit): find the assignment, look for an earlier grading of
# identical code against its current tests (the result cache: PostgreSQL, through the index on assignment, code
# hash and test version), and queue the submission unless that grading exists. The one-pending-per-user index makes
# the insert fail while another submission of the user is queued or grading.
INTAKE = text("""
WITH a AS (
    SELECT id, points, test_version, language FROM assignments WHERE id = :assignment_id
), earlier AS (
    SELECT s.id FROM submissions s JOIN a ON s.assignment_id = a.id AND s.test_version = a.test_version
    WHERE s.code_hash = :code_hash AND s.status = :graded AND NOT s.cached
    ORDER BY s.graded_at DESC LIMIT 1
), queued AS (
    INSERT INTO submissions (id, assignment_id, user_id, cohort_id, code, code_hash, status, max_score, tests,
                             details, cached, workflow_id, created_at, credit, late, derivation)
    SELECT :id, a.id, :user_id, :cohort_id, :code, :code_hash, :queued, a.points, '[]', '{}', false,
           :workflow_id, now(), :credit, :late, CAST(:derivation AS jsonb)
    FROM a WHERE NOT EXISTS (SELECT 1 FROM earlier)
    RETURNING created_at
)
SELECT a.points, a.test_version, a.language, (SELECT id FROM earlier) AS earlier_id,
       (SELECT created_at FROM queued) AS created_at
FROM a
""").bindparams(graded=SubmissionStatus.GRADED, queued=SubmissionStatus.QUEUED)
INTAKE_NOW = Prepared(INTAKE)


async def terms_of(
    conn: Any, user: Principal, assignment_id: int
) -> tuple[float, bool, dict[str, Any]]:
    """A student's submission under their cohort's rules for the assignment: (credit, late, how that was
    derived), or the refusal (404 not offered or not yet released, 403 closed or out of submissions, 429 too soon).
    Staff try assignments out under no rules."""
    if not is_student(user):
        return 1.0, False, {}
    found = await submission_rules(conn, user, assignment_id)
    if found is None:
        raise ApiError(
            404,
            f"Assignment {assignment_id} does not exist or is not offered to your cohort. "
            "GET /api/v1/assignments lists yours.",
        )
    rules, row = found
    verdict = decide(rules, row.now, row.used, row.last_at, row.title)
    if not verdict.allowed:
        headers = {"Retry-After": str(verdict.retry_after)} if verdict.retry_after else None
        raise ApiError(verdict.status, verdict.message, headers=headers)
    return verdict.credit, verdict.late, verdict.derivation(row.now, rules)


async def answer_from_cache(
    session: AsyncSession, sub: Submission, earlier_id: uuid.UUID, test_version: str
) -> None:
    """Store `sub` as graded with the result of the earlier grading of identical code."""
    pending = await pending_submission(session, sub.user_id)
    if pending is not None:  # a graded answer would not trip the one-pending index: check it here
        raise pending_error(pending)
    hit = await session.get(Submission, earlier_id)
    assert hit is not None  # submissions are never deleted
    sub.status, sub.cached, sub.cached_from, sub.workflow_id = (
        SubmissionStatus.GRADED,
        True,
        hit.id,
        None,
    )
    sub.passed, sub.verdict, sub.tests = hit.passed, hit.verdict, hit.tests
    # This submission's credit, not the earlier one's
    sub.score = graded_score(hit.verdict, hit.tests, sub.max_score, sub.credit)
    sub.details = hit.details or {}
    sub.test_version, sub.graded_at = test_version, datetime.now(UTC)
    sub.created_at = sub.graded_at
    session.add(sub)
    await session.commit()


async def cache_status(
    redis: Redis, payload: dict[str, Any], intake: dict[Any, Any] | None = None
) -> bool:
    """Put a submission's status in Redis (and, for a new one, its id on the intake stream) in one round trip.
    Returns False when Redis did not take it: the reconciler then starts the grading from PostgreSQL."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            await write_forward(pipe, payload)
            if intake is not None:
                pipe.xadd(redis_keys.INTAKE_STREAM, intake)
            await pipe.execute()
        return True
    except Exception:  # noqa: BLE001 - any Redis failure: PostgreSQL holds it, the reconciler starts it
        return False


@router.post(
    "/assignments/{assignment_id}/submissions",
    status_code=202,
    response_model=SubmissionOut,
    responses={
        201: {"model": SubmissionOut, "description": "Graded at once: the result is final"},
        **errors(404, 409, 429),
    },
)
async def create_submission(
    assignment_id: AssignmentId,
    body: SubmissionCreate,
    user: CurrentUser,
    settings: SettingsDep,
    request: Request,
):
    """Submit code. 202: queued for grading (follow `links.events` or poll `links.self`). 201: graded at once
    (identical code was graded before; the student is not told so)."""
    return await accept(request.app.state, settings, user, assignment_id, body.code)


async def accept(
    state: State, settings: Settings, user: Principal, assignment_id: int, code: str
) -> Response:
    """Everything a submission's acceptance does once it is known who submits what (`create_submission`, and the
    plain-ASGI path of `api/routes/submissions/fast.py` that skips FastAPI for it): 202 queued, 201 answered
    from the result cache, or an ApiError saying why not."""
    redis = state.redis
    check_code(code, settings.max_code_bytes)
    counted = await check_rate(redis, user, settings.submissions_per_minute)
    sub_id = uuid.uuid4()
    sub = Submission(
        id=sub_id,
        assignment_id=assignment_id,
        user_id=user.id,
        cohort_id=user.cohort_id,
        code=code,
        code_hash=code_hash(code),
        status=SubmissionStatus.QUEUED,
        workflow_id=grade_workflow_id(str(sub_id)),
        cached=False,
        tests=[],
        details={},
    )
    try:
        # asyncpg's own connection: through SQLAlchemy these two statements cost the API more CPU than the rest of
        # accepting (gradeflow.db.Prepared)
        async with driver_connection(state.engine) as conn:
            terms = await terms_of(conn, user, assignment_id)
            sub.credit, sub.late, sub.derivation = terms
            row = await INTAKE_NOW.first(
                conn,
                {
                    "assignment_id": assignment_id,
                    "id": sub_id,
                    "user_id": user.id,
                    "cohort_id": user.cohort_id,
                    "code": code,
                    "code_hash": sub.code_hash,
                    "workflow_id": sub.workflow_id,
                    "credit": sub.credit,
                    "late": sub.late,
                    "derivation": orjson.dumps(sub.derivation).decode(),
                },
            )
    # Another submission of this user is queued or grading (the one-pending index)
    except UniqueViolationError:
        async with state.sessions() as session:
            pending = await pending_submission(session, user.id)
        raise pending_error(pending or "unknown") from None
    # Not accepted (refused by the assignment's rules, or PostgreSQL down: a 503): the attempt does not count
    # against the rate limit
    except Exception:
        if counted is not None:
            await best_effort(redis.decr(counted), "the rate limit's refund")
        raise
    if row is None:
        raise ApiError(
            404, f"Assignment {assignment_id} does not exist. GET /api/v1/assignments lists them."
        )
    sub.max_score = float(row.points)
    hit = row.earlier_id is not None
    if hit:
        # A session only here: the accepting path above needs none (one connection, no ORM)
        async with state.sessions() as session:
            await answer_from_cache(session, sub, row.earlier_id, row.test_version)
    else:
        sub.created_at = row.created_at
    payload = submission_payload(sub)
    ids = {
        "submission_id": str(sub.id),
        "user_id": user.id,
        "assignment_id": assignment_id,
        "workflow_id": sub.workflow_id,
    }
    if hit:
        await cache_status(redis, payload)
        log.info(
            "submission %s answered from the result cache",
            sub.id,
            extra=ids | {"verdict": sub.verdict},
        )
        return json_response(with_links(payload), status_code=201)
    log.info("submission %s accepted", sub.id, extra=ids)
    if not await cache_status(
        redis,
        payload,
        intake={
            "submission_id": str(sub.id),
            "assignment_id": str(assignment_id),
            "user_id": str(user.id),
            "cohort": user.cohort_slug or "",
            "language": row.language,
        },
    ):
        log.warning(
            "intake stream unavailable, submission %s left to the reconciler", sub.id, extra=ids
        )
    answer = json_response(with_links(payload), status_code=202)
    answer.headers["Retry-After"] = str(await state.queue.retry_after(payload))
    return answer


async def may_view(
    session: AsyncSession, user: Principal, owner_id: int, cohort_id: int | None
) -> bool:
    if user.id == owner_id or user.role == Role.OPERATOR:
        return True
    return (
        user.role == Role.INSTRUCTOR
        and cohort_id is not None
        and await teaches(session, user, cohort_id)
    )


async def own_cached(
    raw: bytes | str | None, user: Principal, doubt: Doubt
) -> tuple[dict[str, Any], bool] | None:
    """The caller's own submission as the status cache holds it (`raw`), and whether it may be answered from there
    alone: final, or pending, young and written after the last doubt (gradeflow.status_cache). None when the cache
    holds nothing of theirs: the cached payload is the author's view, staff read theirs from PostgreSQL (whether the
    result cache answered, why tests failed to load)."""
    if not raw:
        return None
    payload, written = from_cache(raw)
    if payload.get("user_id") != user.id:
        return None
    return payload, rank(payload["status"]) == FINAL_RANK or trusted(written, await doubt.current())


async def visible_payload(
    session: AsyncSession, redis: Redis, doubt: Doubt, user: Principal, sub_id: uuid.UUID
) -> dict[str, Any]:
    """The submission as its viewer may see it: from Redis alone for its author when the cache can be trusted with
    it (`own_cached`), else from PostgreSQL. Someone else's submission is a 404. While PostgreSQL is unreachable,
    Redis answers."""
    cached = await best_effort(
        redis.get(redis_keys.submission_status(str(sub_id))), "a status read"
    )
    found = await own_cached(cached, user, doubt)
    if found is not None:
        payload, alone = found
        if alone:
            return payload
        try:
            status = await session.scalar(select(Submission.status).where(Submission.id == sub_id))
        except Exception as exc:
            if dependency_of(exc) == POSTGRES:
                return payload
            raise
        if rank(status) <= rank(payload["status"]):
            # Still right: written again, so the reads of the next TRUST_SECONDS need no database (if Redis does
            # not take it, nothing newer than Redis holds was shown: no doubt to record)
            await cache_status(redis, payload)
            return payload
    read_at = time.time()
    sub = await session.get(Submission, sub_id)
    if sub is None or not await may_view(session, user, sub.user_id, sub.cohort_id):
        raise ApiError(404, f"Submission {sub_id} not found (or it is not yours).")
    payload = submission_payload(sub)
    if not await cache_status(redis, payload):
        # Redis may hold an older status than this one: no process answers that from Redis alone any more
        await doubt.cover(read_at)
    return payload if sub.user_id == user.id else submission_payload(sub, staff=True)


def entity_tag(body: bytes, status: str) -> str:
    """A strong entity tag for a status answer: its status (readable) and a digest of the whole answer."""
    return f'"{status}-{hashlib.blake2b(body, digest_size=8).hexdigest()}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    given = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in given or tag in given


@router.get(
    "/submissions/{submission_id}",
    response_model=SubmissionOut,
    responses={
        304: {"description": "Unchanged since the answer whose ETag was sent in If-None-Match"},
        **errors(404),
    },
)
async def read_submission(
    submission_id: SubmissionId,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
    request: Request,
):
    """Status and per-test feedback (answered from Redis when it can be trusted with it); students see only their own. Send the ETag in
    If-None-Match to get 304 while nothing changed; a pending answer's Retry-After estimates, from the queue,
    when to look again. Following `links.events` instead costs you and the platform far less."""
    payload = await visible_payload(
        session, redis, request.app.state.doubt, user, uuid_of(submission_id, "submission")
    )
    return await status_answer(
        request.app.state.queue, payload, request.headers.get("if-none-match")
    )


async def status_answer(
    queue: QueueWatch, payload: dict[str, Any], if_none_match: str | None
) -> Response:
    """The answer to a status read (also given by api.routes.submissions.fast): the payload with its links, an
    ETag, and for a pending one a Retry-After; 304 without a body when `if_none_match` names it."""
    body = orjson.dumps(with_links(payload))
    headers = {"ETag": entity_tag(body, payload["status"]), "Cache-Control": "private, no-cache"}
    if payload["status"] in PENDING_STATUSES:
        headers["Retry-After"] = str(await queue.retry_after(payload))
    if matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


KEEPALIVE_SECONDS = 15.0


Read = Callable[[], Awaitable[dict[str, Any] | None]]


def rereader(state: State, user: Principal, sub_id: uuid.UUID) -> Read:
    """Reads a followed submission again (None: no longer visible), in a session of its own: a long stream holds no
    database connection."""

    async def reread() -> dict[str, Any] | None:
        async with state.sessions() as fresh:
            try:
                return await visible_payload(fresh, state.redis, state.doubt, user, sub_id)
            except ApiError:
                return None

    return reread


async def follow(hub: EventHub, sub_id: uuid.UUID, read: Read, reread: Read) -> EventStream | None:
    """The events stream of a submission from what `read` gives; None (and nothing held) when it gives nothing.
    Subscribed before the read, so that a change published meanwhile is queued, not missed: one read suffices."""
    updates = hub.subscribe(str(sub_id))
    try:
        current = await read()
    except BaseException:
        hub.unsubscribe(str(sub_id), updates)
        raise
    if current is None:
        hub.unsubscribe(str(sub_id), updates)
        return None
    return EventStream(current, updates, hub, sub_id, reread)


class EventStream(Response):
    """A submission's `status` events in plain ASGI (also answered by api.routes.submissions.fast): `current`, then
    each later status from `updates` (a subscription to `hub`, given back at the end), a comment every
    KEEPALIVE_SECONDS with a re-read in case an update was published while Redis reconnected; it ends after a final
    status or when the client leaves. Not Starlette's StreamingResponse: that costs a task group and a thread hop
    for every stream, a thousand of them at a deadline."""

    media_type = "text/event-stream"

    def __init__(
        self,
        current: dict[str, Any],
        updates: asyncio.Queue[dict[str, Any]],
        hub: EventHub,
        sub_id: uuid.UUID,
        reread: Read,
        keepalive: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.keepalive = keepalive
        # As StreamingResponse does: no body, so no Content-Length
        self.status_code, self.background = 200, None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.current, self.updates, self.hub, self.sub_id = current, updates, hub, str(sub_id)
        self.reread = reread

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        left = asyncio.ensure_future(client_left(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._send(send, event(self.current))
            while self.current["status"] in PENDING_STATUSES:
                next_update = asyncio.ensure_future(self.updates.get())
                done, _ = await asyncio.wait(
                    {next_update, left}, timeout=self.keepalive, return_when=FIRST_COMPLETED
                )
                if left in done:
                    next_update.cancel()
                    return
                update: dict[str, Any] | None
                if next_update in done:
                    update = next_update.result()
                else:  # quiet
                    next_update.cancel()
                    await self._send(send, b": keepalive\n\n")
                    update = await self.reread()
                if update is not None and moved_on(self.current, update):
                    self.current = update
                    await self._send(send, event(update))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client left while we wrote
            return
        finally:
            left.cancel()
            self.hub.unsubscribe(self.sub_id, self.updates)

    @staticmethod
    async def _send(send: Send, chunk: bytes) -> None:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def client_left(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def event(payload: dict[str, Any]) -> bytes:
    return b"event: status\ndata: " + orjson.dumps(with_links(payload)) + b"\n\n"


@router.get(
    "/submissions/{submission_id}/events",
    response_class=StreamingResponse,  # for the OpenAPI document; the answer is an EventStream
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`status` events, each the submission as in GET /submissions/{id}",
        },
        **errors(404),
    },
)
async def submission_events(
    submission_id: SubmissionId,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
):
    """Follow a grading as server-sent events: a `status` event with the whole submission now, then one each time
    its status moves on (queued, grading, graded or error); the stream ends after the final one. A comment line
    every 15 s keeps proxies from closing a quiet stream. Students follow only their own submissions."""
    sub_id = uuid_of(submission_id, "submission")
    state = request.app.state

    async def read() -> dict[str, Any]:
        current = await visible_payload(session, redis, state.doubt, user, sub_id)  # 404 first
        # A database read above (a status no longer in Redis) would keep its connection for as long as the stream
        # stays open: a thousand pages following their gradings would hold the whole pool. Give it back now.
        await session.close()
        return current

    stream = await follow(state.events, sub_id, read, rereader(state, user, sub_id))
    assert stream is not None  # `read` gives a payload or raises
    return stream


@router.get(
    "/submissions/{submission_id}/code", response_model=SubmissionCode, responses=errors(404)
)
async def read_submission_code(submission_id: uuid.UUID, user: CurrentUser, session: SessionDep):
    """The submitted source: for its author, the author's instructors and operators."""
    sub = await session.get(Submission, submission_id)
    if sub is None or not await may_view(session, user, sub.user_id, sub.cohort_id):
        raise ApiError(404, f"Submission {submission_id} not found (or it is not yours).")
    return {"id": str(sub.id), "code": sub.code}
