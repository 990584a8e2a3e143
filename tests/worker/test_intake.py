"""The intake dispatcher against the real Redis stream and Temporal: what a dead dispatcher read is claimed, a start
that failed is tried again, and every message is acknowledged once its grading has started."""

from __future__ import annotations

import pytest
import redis.asyncio
from temporalio.client import Client
from temporalio.service import RPCError

import worker.intake
from gradeflow import redis_keys
from tests.conftest import Stack, run_async
from tests.integration.test_submission_path import RIGHT_HELLO, unique
from worker.intake import Dispatcher
from workflows.config import grade_workflow_id

pytestmark = pytest.mark.integration


def test_a_dead_dispatchers_message_and_a_failed_start_are_graded_once(
    own_stack: Stack, monkeypatch: pytest.MonkeyPatch
):
    stack = own_stack
    stack.worker.stop()  # no dispatcher but the one below takes from the stream
    try:
        tokens = [stack.new_user() for _ in range(2)]
        ids = []
        for token in tokens:
            with stack.client(token) as c:
                r = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)})
                assert r.status_code == 202, r.text
                ids.append(r.json()["id"])

        async def dispatch() -> tuple[list[str], int]:
            r = redis.asyncio.Redis.from_url(
                stack.env["GRADEFLOW_REDIS_URL"], decode_responses=True
            )
            good = await Client.connect(stack.temporal_address)
            # Refuses every start at once (no such namespace): as a Temporal outage would
            bad = await Client.connect(stack.temporal_address, namespace="no-such-namespace")
            live = Dispatcher(r, bad, batch=10, in_flight=10)
            try:
                await live._ensure_group()  # the stack's worker may have stopped before it made it
                # A dispatcher that read the first message and died before starting its grading
                await r.xreadgroup(
                    redis_keys.INTAKE_GROUP,
                    "dead-dispatcher",
                    {redis_keys.INTAKE_STREAM: ">"},
                    count=1,
                )
                monkeypatch.setattr(worker.intake, "RECLAIM_IDLE_MS", 0)  # dead at once
                with pytest.raises(RPCError, match="namespace"):
                    await live.run_once(block_ms=100)
                pending = await r.xpending_range(
                    redis_keys.INTAKE_STREAM, redis_keys.INTAKE_GROUP, "-", "+", 10
                )
                owners = sorted(p["consumer"] for p in pending)
                # Temporal back: the claimed message is this dispatcher's own now, read again (not claimed) and
                # started; then the second, new message.
                monkeypatch.setattr(worker.intake, "RECLAIM_IDLE_MS", 60_000)
                live.client = good
                rounds = [await live.run_once(block_ms=100) for _ in range(3)]
                started = []
                for sub_id in ids:
                    handle = good.get_workflow_handle(grade_workflow_id(sub_id))
                    started.append((await handle.describe()).id)
                left = await r.xpending(redis_keys.INTAKE_STREAM, redis_keys.INTAKE_GROUP)
                assert owners == [live.consumer], pending
                assert rounds[:2] == [1, 1], rounds
                return started, left["pending"]
            finally:
                await r.aclose()

        started, left = run_async(dispatch)
        assert started == [grade_workflow_id(i) for i in ids]
        assert left == 0, "every message acknowledged"
    finally:
        stack.worker.start()
    for token, sub_id in zip(tokens, ids, strict=True):
        assert stack.wait_graded(token, sub_id)["status"] == "graded"
    runs = stack.sql(
        "SELECT count(*) FROM grading_runs WHERE submission_id = ANY(CAST(:ids AS uuid[]))", ids=ids
    )
    assert runs == [(2,)], "each graded once"
