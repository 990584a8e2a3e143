"""Request dependencies as types: database session, Redis, the authenticated user and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import ApiError
from gradeflow.models import Enrollment, User
from gradeflow.settings import Settings
from gradeflow.tokens import hash_token

bearer = HTTPBearer(auto_error=False, description="An API token from `gradeflow users add`.")


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def get_redis(request: Request) -> Redis:
    return request.app.state.redis


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[AsyncSession, Depends(get_session)]
RedisDep = Annotated[Redis, Depends(get_redis)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def current_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    if credentials is None:
        raise ApiError(401, "Missing API token: send the header 'Authorization: Bearer <token>'.",
                       headers={"WWW-Authenticate": "Bearer"})
    user = (await session.execute(
        select(User).where(User.token_hash == hash_token(credentials.credentials)))).scalar_one_or_none()
    if user is None:
        raise ApiError(401, "Unknown or revoked API token: ask an instructor for a new one.",
                       headers={"WWW-Authenticate": "Bearer"})
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: str):
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise ApiError(403, f"This needs the {' or '.join(roles)} role; you are signed in as a {user.role}.")
        return user

    return Depends(check)


Instructor = Annotated[User, require_role("instructor")]


async def teaches(session: AsyncSession, user: User, cohort_id: int) -> bool:
    """Whether the user is enrolled in (for staff: teaches) the cohort."""
    return bool(await session.scalar(select(exists().where(Enrollment.user_id == user.id,
                                                           Enrollment.cohort_id == cohort_id))))


async def temporal_client(request: Request):
    """The API's Temporal client, or a 503 that says Temporal is unavailable."""
    try:
        return await request.app.state.temporal()
    except Exception as exc:  # noqa: BLE001 - the SDK raises a bare RuntimeError when it cannot connect
        raise ApiError(503, f"Temporal is unavailable ({type(exc).__name__}): {exc}"[:300])
