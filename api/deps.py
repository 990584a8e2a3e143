"""Request dependencies as types: database session, Redis, Temporal, the authenticated user and role checks."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from cachetools import LRUCache, TTLCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy import ARRAY, Select, String, bindparam, case, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import Client

from api.errors import POSTGRES, ApiError, dependency_of
from gradeflow import redis_keys
from gradeflow.db import Prepared, driver_connection
from gradeflow.models import Cohort, Enrollment, SignInSession, User
from gradeflow.settings import Settings
from gradeflow.tokens import hash_token
from gradeflow.vocabulary import Role

log = logging.getLogger(__name__)
bearer = HTTPBearer(auto_error=False, description="An API token from `gradeflow users add`.")


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


async def get_redis(
    request: Request,
) -> Redis:  # async: a plain def would run in a thread for each request
    return request.app.state.redis


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[AsyncSession, Depends(get_session)]
RedisDep = Annotated[Redis, Depends(get_redis)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class Principal:
    """The signed-in user as a request sees it: who, which role, and the cohort their submissions count for."""

    id: int
    name: str
    role: str
    cohort_id: int | None
    cohort_slug: str | None


def signed_in(token_hash: Any) -> Select:
    """The user of a browser's sign-in from an LMS launch that has not ended."""
    return select(SignInSession.user_id).where(
        SignInSession.token_hash == token_hash, SignInSession.expires_at > func.now()
    )


def who_has(token_hash: Any, signed_in_user: Any) -> Select:
    """The holder of an API token (or the user of a sign-in, `signed_in_user`) with the cohort their submissions
    count for: their chosen cohort while they are in it, else their oldest."""
    return (
        select(User.id, User.name, User.role, Cohort.id.label("cohort_id"), Cohort.slug)
        .outerjoin(Enrollment, Enrollment.user_id == User.id)
        .outerjoin(Cohort, Cohort.id == Enrollment.cohort_id)
        .where(or_(User.token_hash == token_hash, User.id == signed_in_user))
        .order_by(case((Cohort.id == User.current_cohort_id, 0), else_=1), Cohort.id)
        .limit(1)
    )


# Built once (composing a statement costs more Python than running it). Many tokens at once: (token_hash, id, name, role, cohort_id, slug) for each that still works
_ASKED = (
    func.unnest(bindparam("token_hashes", type_=ARRAY(String)))
    .table_valued("token_hash")
    .render_derived(name="asked")
)
_SIGNED_IN = signed_in(_ASKED.c.token_hash).lateral("signed_in")
_FOUND = who_has(_ASKED.c.token_hash, _SIGNED_IN.c.user_id).lateral("found")
WHO_HAS_TOKENS = select(_ASKED.c.token_hash, _FOUND).select_from(
    _ASKED.outerjoin(_SIGNED_IN, true()).join(_FOUND, true())
)
WHO_HAS_TOKENS_NOW = Prepared(WHO_HAS_TOKENS)
# Tokens looked up in one query at most: a rush's first requests are each a new student's
MAX_LOOK_UP = 500


@dataclass
class Known:
    principal: Principal
    checked: float  # time.monotonic() of the last look-up
    used: bool = False  # since then


class TokenCache:
    """Token hash -> Principal, so the hot paths (following a grading, submitting) do not ask PostgreSQL who is
    calling. A token whose user was removed, or whose stored hash changed, is refused within `ttl` seconds. Unknown
    tokens are never cached.

    Tokens in use are checked again in the background once half their `ttl` old, all those due in one query (a pass
    a second), rather than each looked up again by the request that finds it expired: with a thousand students
    polling, one query a second instead of two hundred (and their requests stay on the fast path)."""

    def __init__(
        self, engine: AsyncEngine, ttl: float, max_entries: int = 100_000, outage_ttl: float = 900
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self.entries: LRUCache[str, Known] = LRUCache(maxsize=max_entries)
        # Tokens seen in the last `outage_ttl` seconds, consulted only while PostgreSQL is unreachable: students
        # following a result that Redis holds keep their page through a database outage.
        self.recent: TTLCache[str, Principal] = TTLCache(maxsize=max_entries, ttl=outage_ttl)
        self.task: asyncio.Task | None = None
        # Token hashes waiting for the look-up in progress to end, and that look-up (_looked_up)
        self.asked: dict[str, asyncio.Future[Any]] = {}
        self.looking: asyncio.Task | None = None
        self.queries = 0  # look-up queries made (each for one token or many)

    def start(self) -> None:
        self.task = asyncio.create_task(self._check_again_forever(), name="token-checks")

    async def close(self) -> None:
        for task in (self.task, self.looking):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def forget(self, token_hash: str) -> None:
        """A token that stopped working (revoked, rotated) is refused from its next request on; one whose user's
        cohorts changed is looked up again."""
        self.entries.pop(token_hash, None)
        self.recent.pop(token_hash, None)

    def cached(self, token: str) -> Principal | None:
        """Who holds `token`, if checked within the last `ttl` seconds; None: ask `principal`."""
        known = self.entries.get(hash_token(token))
        if known is None or time.monotonic() - known.checked >= self.ttl:
            return None
        known.used = True
        return known.principal

    async def principal(self, token: str) -> Principal | None:
        found = self.cached(token)
        if found is not None:
            return found
        key = hash_token(token)
        try:
            row = await self._looked_up(key)
        except Exception as exc:
            if dependency_of(exc) == POSTGRES and key in self.recent:
                return self.recent[key]
            raise
        if row is None:
            self.forget(key)
            return None
        return self._remember(key, row)

    async def _looked_up(self, key: str) -> Any:
        """The row of the token whose hash is `key`, or None; looked up with every other token asked for meanwhile.
        In a rush each student's first request looks a new token up: one query for hundreds of them, on one
        connection, instead of one each (the pool is then free for the submissions themselves)."""
        asked = self.asked.get(key)
        if asked is None:
            asked = self.asked[key] = asyncio.get_running_loop().create_future()
            if self.looking is None:
                self.looking = asyncio.create_task(self._look_up_asked(), name="token-look-ups")
        # Shielded: a request that goes away does not cancel the answer others with the same token wait for
        found = await asyncio.shield(asked)
        if isinstance(found, BaseException):
            raise found
        return found

    async def _look_up_asked(self) -> None:
        """Look up what was asked, then what was asked meanwhile, until nothing is. A token asked for again while
        its look-up is in progress waits for that one."""
        try:
            while self.asked:
                keys = list(itertools.islice(self.asked, MAX_LOOK_UP))
                found: dict[str, Any] = {}
                failure: BaseException | None = None
                self.queries += 1
                try:
                    # A connection of its own, given back at once; asyncpg's own (gradeflow.db.Prepared)
                    async with driver_connection(self.engine) as conn:
                        rows = await WHO_HAS_TOKENS_NOW.all(conn, {"token_hashes": keys})
                    found = {row.token_hash: row for row in rows}
                except Exception as exc:  # noqa: BLE001 - each asker decides (the outage fallback, a 503)
                    failure = exc
                for key in keys:
                    self.asked.pop(key).set_result(
                        failure if failure is not None else found.get(key)
                    )
        finally:  # cancelled (the API stops): nobody is left waiting
            self.looking = None
            stopping = RuntimeError("the API is stopping")
            for asked in self.asked.values():
                asked.set_result(stopping)
            self.asked.clear()

    def _remember(self, key: str, row: Any) -> Principal:
        found = Principal(row.id, row.name, row.role, row.cohort_id, row.slug)
        self.entries[key] = Known(found, time.monotonic())
        self.recent[key] = found
        return found

    async def _check_again_forever(self) -> None:
        failing = False
        while True:
            # Often enough that a token in use is checked again (at half its `ttl`) before it expires
            await asyncio.sleep(min(1.0, self.ttl / 4))
            try:
                await self.check_again()
                failing = False
            except Exception as exc:  # noqa: BLE001 - the entries expire: requests look their tokens up
                if not failing:  # once per outage, not every second
                    log.warning("could not check the cached tokens again: %s", exc)
                failing = True

    async def check_again(self) -> None:
        """Look up again, in one query, the tokens used since their last look-up that are half their `ttl` old;
        forget those unused for as long."""
        now = time.monotonic()
        due = []
        for key, known in list(self.entries.items()):
            if now - known.checked >= self.ttl / 2:
                if known.used:
                    due.append(key)
                else:
                    del self.entries[key]
        if not due:
            return
        async with driver_connection(self.engine) as conn:
            rows = await WHO_HAS_TOKENS_NOW.all(conn, {"token_hashes": due})
        still = {row.token_hash: row for row in rows}
        for key in due:
            if key in still:
                self._remember(key, still[key])
            else:
                self.forget(key)


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise ApiError(
            401,
            "Missing API token: send the header 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = await request.app.state.tokens.principal(credentials.credentials)
    if user is None:
        raise ApiError(
            401,
            "Unknown or revoked API token: ask an instructor for a new one.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_role(*roles: str):
    async def check(user: CurrentUser) -> Principal:
        if user.role not in roles:
            raise ApiError(
                403,
                f"This needs the {' or '.join(roles)} role; you are signed in as a {user.role}.",
            )
        return user

    return Depends(check)


# Who may call a route: as a handler's parameter, or in a route's `dependencies` when it needs no principal
Instructor = Annotated[Principal, require_role(Role.INSTRUCTOR)]
Operator = Annotated[Principal, require_role(Role.OPERATOR)]
Staff = Annotated[Principal, require_role(Role.INSTRUCTOR, Role.OPERATOR)]
STAFF_ONLY = require_role(Role.INSTRUCTOR, Role.OPERATOR)


async def teaches(session: AsyncSession, user: Principal, cohort_id: int) -> bool:
    """Whether the user is enrolled in (for staff: teaches) the cohort."""
    return bool(
        await session.scalar(
            select(exists().where(Enrollment.user_id == user.id, Enrollment.cohort_id == cohort_id))
        )
    )


async def taught_cohort(session: AsyncSession, user: Principal, slug: str, only: str) -> Cohort:
    """The cohort `slug` if the user teaches it: 404 when there is none, 403 when it is someone else's. `only`
    says what its instructors alone may do ("can change it"), for the 403's message."""
    cohort = (await session.execute(select(Cohort).where(Cohort.slug == slug))).scalar_one_or_none()
    if cohort is None:
        raise ApiError(404, f"Cohort '{slug}' does not exist.")
    if not await teaches(session, user, cohort.id):
        raise ApiError(403, f"You do not teach cohort '{slug}'; only its instructors {only}.")
    return cohort


async def taught_row(
    session: AsyncSession,
    user: Principal,
    model: Any,
    key: uuid.UUID,
    what: str,
    *,
    hidden: bool = False,
) -> tuple[Any, str]:
    """A cohort's row (a `model` with a cohort_id: a regrade batch, a similarity report) by its id, with the
    cohort's slug, if the user teaches that cohort: 404 when there is none; when it is another cohort's, 403,
    or 404 if `hidden` (its existence is not told either)."""
    row = (
        await session.execute(
            select(model, Cohort.slug)
            .join(Cohort, Cohort.id == model.cohort_id)
            .where(model.id == key)
        )
    ).first()
    if row is None:
        raise ApiError(404, f"No {what} {key}.")
    found, slug = row
    if not await teaches(session, user, found.cohort_id):
        if hidden:
            raise ApiError(404, f"No {what} {key} in the cohorts you teach.")
        raise ApiError(
            403, f"You do not teach cohort '{slug}'; only its instructors see this {what}."
        )
    return found, slug


async def token_changed(request: Request, redis: Redis, token_hash: str) -> None:
    """Every API process (this one at once, the others over Redis) looks the token up again: its user joined,
    left or chose a cohort."""
    request.app.state.tokens.forget(token_hash)
    await redis_keys.announce_token_changed(redis, token_hash)


async def get_temporal(request: Request) -> Client:
    """The API's Temporal client: the SDK's lazy one, which connects on first use, so the API starts (and keeps
    accepting submissions) while Temporal is down. A call that cannot reach Temporal raises, and ErrorsAsAnswers
    answers 503 naming Temporal."""
    return request.app.state.temporal


TemporalDep = Annotated[Client, Depends(get_temporal)]
