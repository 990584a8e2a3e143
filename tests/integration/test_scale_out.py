"""Scale-out shown (issue #14): a second worker process against the same Temporal and the same intake stream.
Both grade, nothing is graded twice, and killing one mid-burst loses nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from gradeflow import redis_keys
from gradeflow.launch.embedded import free_port
from gradeflow.launch.roles import role_argv
from tests.conftest import Role, Stack, run_async, wait_for
from tests.integration.test_submission_path import RIGHT_HELLO, submit, unique

pytestmark = pytest.mark.integration


def burst(stack: Stack, students: int) -> list[tuple[str, str]]:
    """`students` new students submit at once: (token, submission id) each."""
    tokens = [stack.new_user() for _ in range(students)]

    def one(token: str) -> tuple[str, str]:
        r = submit(stack, token, unique(RIGHT_HELLO))
        assert r.status_code == 202, r.text
        return token, r.json()["id"]

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, tokens))


def graders(stack: Stack, submission_ids: list[str]) -> dict[str, str]:
    """Which worker (its Temporal identity, pid@host) completed each grading's workflow."""

    async def read(client: Client) -> dict[str, str]:
        found = {}
        for sid in submission_ids:
            history = await client.get_workflow_handle(f"grade-{sid}").fetch_history()
            done = [
                e.workflow_task_completed_event_attributes.identity
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            ]
            found[sid] = done[-1]
        return found

    async def run() -> dict[str, str]:
        return await read(await Client.connect(stack.temporal_address))

    return run_async(run)


def runs(stack: Stack, ids: list[str]) -> dict[str, int]:
    rows = stack.sql(
        "SELECT submission_id::text, count(*) FROM grading_runs WHERE submission_id::text = ANY(:ids) "
        "GROUP BY submission_id",
        ids=ids,
    )
    return dict(rows)


def test_two_workers_share_the_intake_and_one_dying_loses_nothing(stack: Stack):
    env = {**stack.env, "GRADEFLOW_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"}
    second = Role(role_argv("worker"), env, stack.home / "logs" / "worker-2.log")
    second.start()
    try:
        wait_for(
            lambda: (
                "worker ready on task queue" in (stack.home / "logs" / "worker-2.log").read_text()
                or second.exited()
            ),
            60,
            "the second worker to start",
        )
        assert second.exited() is None, second.exited()

        first_burst = burst(stack, 60)
        for token, sid in first_burst:
            stack.wait_graded(token, sid)
        ids = [sid for _, sid in first_burst]
        assert runs(stack, ids) == {sid: 1 for sid in ids}, "each graded exactly once"
        who = graders(stack, ids)
        assert len(set(who.values())) == 2, f"both workers graded: {sorted(set(who.values()))}"
        # The platform-wide gauges are sampled by one of them only (the holder of the lease)
        import redis

        # (a worker an earlier test killed may hold it until its lease runs out)
        lease = redis.Redis.from_url(stack.env["GRADEFLOW_REDIS_URL"], decode_responses=True)
        wait_for(
            lambda: lease.get(redis_keys.GAUGES_LEASE) in set(who.values()),
            40,
            "one of the two workers to hold the gauges' lease",
        )

        # The second worker dies mid-burst: the first grades what it held, once.
        second_burst = burst(stack, 60)
        second.kill()
        for token, sid in second_burst:
            assert stack.wait_graded(token, sid, timeout=120)["status"] == "graded"
        ids = [sid for _, sid in second_burst]
        assert runs(stack, ids) == {sid: 1 for sid in ids}
    finally:
        second.stop()
