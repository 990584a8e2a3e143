"""Keeps grades flowing to each registered LMS: one PostGrades workflow per platform, started at the worker's start
(and checked every few minutes, for platforms registered since) with the schedule that syncs rosters, and woken when PostgreSQL notifies that grades
were marked pending (the submissions trigger, at commit). A lost notification costs at most the workflow's idle
round (a minute), never a grade: the marks are rows."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from gradeflow.models import LtiPlatform
from workflows.start import ensure_roster_schedule, start_post_grades, wake_post_grades

log = logging.getLogger("gradeflow.worker.lti")

CHANNEL = "gradeflow_lti_grades"
CHECK_PLATFORMS_SECONDS = 300
RECONNECT_SECONDS = 5


def plain_dsn(database_url: str) -> str:
    """asyncpg's own connect takes postgresql:// URLs, not SQLAlchemy's driver-qualified ones."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class LtiGrades:
    def __init__(
        self,
        database_url: str,
        sessions: async_sessionmaker[AsyncSession],
        client: Client,
        roster_every: timedelta,
    ) -> None:
        self.dsn = plain_dsn(database_url)
        self.roster_every = roster_every
        self.sessions = sessions
        self.client = client
        self.pending: set[asyncio.Task] = set()

    async def start_all(self) -> None:
        async with self.sessions() as session:
            platforms = list((await session.execute(select(LtiPlatform.id))).scalars())
        for platform_id in platforms:
            await start_post_grades(self.client, platform_id)
        await ensure_roster_schedule(self.client, self.roster_every)

    def _notified(self, connection, pid, channel, payload: str) -> None:
        task = asyncio.create_task(self._wake(int(payload)))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _wake(self, platform_id: int) -> None:
        try:
            await wake_post_grades(self.client, platform_id)
        except Exception as exc:  # noqa: BLE001 - the workflow's own rounds will find the grades
            log.warning("could not wake the grade posts of LMS %d: %s", platform_id, exc)

    async def run(self) -> None:
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn)
                await connection.add_listener(CHANNEL, self._notified)
                while True:
                    await self.start_all()
                    await asyncio.sleep(CHECK_PLATFORMS_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - PostgreSQL or Temporal away: try again shortly
                log.warning("LMS grade posting: %s; trying again in %d s", exc, RECONNECT_SECONDS)
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                if connection is not None:
                    await connection.close()
