"""Gauges a worker samples for Prometheus: how much work waits (intake stream, pending submissions).

They describe the whole platform, not one worker, so with several worker replicas only one samples them: the holder
of a short lease in Redis (renewed each round, taken over by another worker within LEASE_SECONDS when its holder
dies). The others report 0, so `sum()` or `max()` over the replicas is the true figure, never a multiple of it."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.service import RPCError

from gradeflow import redis_keys
from gradeflow.models import Submission
from gradeflow.vocabulary import PENDING_STATUSES
from workflows.config import BATCH_TASK_QUEUE, GRADING_TASK_QUEUE

log = logging.getLogger(__name__)
TASK_QUEUES = (GRADING_TASK_QUEUE, BATCH_TASK_QUEUE)
LEASE_SECONDS = 15.0


async def task_queue_backlog(client: Client, queue: str) -> int:
    """Temporal's approximate backlog of a task queue: its workflow tasks and its activity tasks."""
    total = 0
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=kind,
                report_stats=True,
            )
        )
        total += answer.stats.approximate_backlog_count
    return total


class QueueGauges:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis,
        meter: MetricMeter,
        temporal: Client | None = None,
        interval_seconds: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self.redis = redis
        self.interval = interval_seconds
        self.identity = f"{os.getpid()}@{socket.gethostname()}"
        self.stream = meter.create_gauge(
            "gradeflow_intake_stream_length", "Entries in the Redis intake stream (read or not)"
        )
        self.pending = meter.create_gauge(
            "gradeflow_submissions_pending",
            "Submissions waiting for a result in PostgreSQL, by status",
        )
        self.backlog = meter.create_gauge(
            "gradeflow_task_queue_backlog",
            "Tasks waiting for a worker in a Temporal task queue (Temporal's approximate backlog, workflow and "
            "activity tasks): the signal to scale workers on",
        )
        self.temporal = temporal

    async def holds_lease(self) -> bool:
        """Take the sampling lease if nobody holds it, or renew it if this worker does."""
        ttl = int(LEASE_SECONDS * 1000)
        if await self.redis.set(redis_keys.GAUGES_LEASE, self.identity, nx=True, px=ttl):
            return True
        if await self.redis.get(redis_keys.GAUGES_LEASE) == self.identity:
            await self.redis.pexpire(redis_keys.GAUGES_LEASE, ttl)
            return True
        return False

    async def sample(self) -> None:
        try:
            sampler = await self.holds_lease()
        except Exception as exc:  # noqa: BLE001 - Redis down: sample anyway (a double count beats no figure)
            log.debug("gauges lease unavailable: %s", exc)
            sampler = True
        if not sampler:
            for status in PENDING_STATUSES:
                self.pending.set(0, {"status": status})
            self.stream.set(0)
            for queue in TASK_QUEUES:
                self.backlog.set(0, {"task_queue": queue})
            return
        if self.temporal is not None:
            for queue in TASK_QUEUES:
                try:
                    self.backlog.set(
                        await task_queue_backlog(self.temporal, queue), {"task_queue": queue}
                    )
                except RPCError as exc:
                    log.debug("backlog of %s unavailable: %s", queue, exc)
        async with self.sessions() as session:
            counts = dict(
                (
                    await session.execute(
                        select(Submission.status, func.count())
                        .where(Submission.status.in_(PENDING_STATUSES))
                        .group_by(Submission.status)
                    )
                ).all()
            )
        for status in PENDING_STATUSES:
            self.pending.set(counts.get(status, 0), {"status": status})
        try:
            self.stream.set(await self.redis.xlen(redis_keys.INTAKE_STREAM))
        except Exception as exc:  # noqa: BLE001 - Redis down: the pending count still tells the story
            log.debug("intake stream length unavailable: %s", exc)

    async def run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as exc:  # noqa: BLE001 - a missed sample is not worth stopping the worker
                log.warning("metrics sampling: %s", exc)
            await asyncio.sleep(self.interval)
