"""The one database engine and session factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

T = TypeVar("T")


def async_url(url: str) -> str:
    """Accept plain postgresql:// URLs (as pgserver and most hosts print them) and use the asyncpg driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def make_engine(url: str, pool_size: int = 10, pre_ping: bool = True) -> AsyncEngine:
    """`pre_ping`: test each connection as it leaves the pool (a round trip), so a restarted PostgreSQL costs no
    failed request. Callers that retry anyway (the worker's activities) skip it."""
    return create_async_engine(async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def in_transaction(url: str, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`await fn(session)` in one transaction on a short-lived engine: for commands, tests and benchmarks."""
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await fn(session)
    finally:
        await engine.dispose()
