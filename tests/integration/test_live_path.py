"""The live path's mechanisms (issue #9): the events stream, the token cache's refusals, the tuned embedded Temporal
surviving a restart, and the locustfile running against the real stack. The speed itself is measured by
`make bench` and `make loadtest`, not here."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from gradeflow.launch.embedded import EmbeddedServices, free_port
from tests.conftest import Stack, run_async, wait_for
from tests.integration.test_submission_path import RIGHT_HELLO, submit, unique

pytestmark = pytest.mark.integration


def stream_statuses(stack: Stack, token: str, sub_id: str, opened=None) -> list[dict]:
    """Every event of a submission's stream, until the server ends it."""
    seen = []
    with httpx.Client(
        base_url=f"{stack.api_url}/api/v1",
        timeout=httpx.Timeout(30, read=60),
        headers={"Authorization": f"Bearer {token}"},
    ) as c:
        with c.stream("GET", f"/submissions/{sub_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data:"):
                    seen.append(json.loads(line[5:]))
                    if opened is not None and len(seen) == 1:
                        opened()
    return seen


def test_the_events_stream_delivers_queued_grading_graded(stack: Stack):
    token = stack.new_user()
    stack.worker.stop()  # so the submission is certainly still queued when the stream opens
    sub = submit(stack, token, unique("import time\ntime.sleep(0.5)\n" + RIGHT_HELLO)).json()
    events = stream_statuses(stack, token, sub["id"], opened=stack.worker.start)
    statuses = [e["status"] for e in events]
    assert statuses == ["queued", "grading", "graded"], statuses
    final = events[-1]
    assert (final["id"], final["passed"], final["verdict"]) == (sub["id"], True, "passed")
    assert final["tests"] and final["links"]["events"] == f"/api/v1/submissions/{sub['id']}/events"
    # A finished grading's stream says so at once and ends.
    assert [e["status"] for e in stream_statuses(stack, token, sub["id"])] == ["graded"]


def test_a_poller_gets_304_while_nothing_changed_and_is_told_when_to_look_again(stack: Stack):
    token, other = stack.new_user(), stack.new_user()
    stack.worker.stop()  # so the submissions stay queued while they are read
    try:
        for student in [stack.new_user() for _ in range(3)]:  # queued ahead
            assert submit(stack, student, unique(RIGHT_HELLO)).status_code == 202
        accepted = submit(stack, token, unique(RIGHT_HELLO))
        assert accepted.status_code == 202
        assert 1 <= int(accepted.headers["Retry-After"]) <= 30
        sub = accepted.json()
        url = f"/submissions/{sub['id']}"
        with stack.client(token) as c:
            first = c.get(url)
            assert (first.status_code, first.json()["status"]) == (200, "queued")
            tag = first.headers["ETag"]
            assert tag.startswith('"queued-') and 1 <= int(first.headers["Retry-After"]) <= 30
            assert "no-cache" in first.headers["Cache-Control"]
            unchanged = c.get(url, headers={"If-None-Match": tag})
            assert (unchanged.status_code, unchanged.content) == (304, b"")
            assert unchanged.headers["ETag"] == tag and int(unchanged.headers["Retry-After"]) >= 1
            listed = c.get(url, headers={"If-None-Match": f'"other", W/{tag}'})
            assert listed.status_code == 304, "a weak tag or a list of them matches too"
            assert c.get(url, headers={"If-None-Match": '"queued-0"'}).status_code == 200
        with stack.client(other) as c:  # a tag is no way into someone else's submission
            assert c.get(url, headers={"If-None-Match": tag}).status_code == 404
    finally:
        stack.worker.start()
    stack.wait_graded(token, sub["id"], timeout=120)
    with stack.client(token) as c:
        graded = c.get(url, headers={"If-None-Match": tag})
        assert (graded.status_code, graded.json()["status"]) == (200, "graded")
        assert graded.headers["ETag"] != tag and "Retry-After" not in graded.headers
        again = c.get(url, headers={"If-None-Match": graded.headers["ETag"]})
        assert again.status_code == 304


def test_the_events_stream_is_only_for_who_may_see_the_submission(stack: Stack):
    owner = stack.new_user()
    sub = submit(stack, owner, unique(RIGHT_HELLO)).json()
    stack.wait_graded(owner, sub["id"])
    with stack.client(stack.new_user()) as other:
        refused = other.get(f"/submissions/{sub['id']}/events")
        assert refused.status_code == 404 and "not found" in refused.json()["detail"]
        assert other.get("/submissions/not-a-uuid/events").status_code == 422
    with stack.client() as anonymous:
        assert anonymous.get(f"/submissions/{sub['id']}/events").status_code == 401
    # Staff who may see it get its stream.
    assert [e["status"] for e in stream_statuses(stack, stack.tokens["otto"], sub["id"])] == [
        "graded"
    ]


def test_a_removed_user_or_a_changed_token_is_refused_within_seconds(stack: Stack):
    removed, changed = stack.new_user(), stack.new_user()
    with stack.client(removed) as a, stack.client(changed) as b:
        ids = {}
        for name, c in (("removed", a), ("changed", b)):
            # The API processes (likely each of them) now hold the token in their caches
            for _ in range(4):
                me = c.get("/me")
                assert me.status_code == 200
            ids[name] = me.json()["id"]
        stack.sql_write("DELETE FROM enrollments WHERE user_id = :id", id=ids["removed"])
        stack.sql_write("DELETE FROM users WHERE id = :id", id=ids["removed"])
        stack.sql_write(
            "UPDATE users SET token_hash = :h WHERE id = :id", h=uuid.uuid4().hex, id=ids["changed"]
        )
        for c in (a, b):
            # Several reads in a row, so whichever API process answers, none still trusts the old token.
            wait_for(
                lambda c=c: all(
                    c.get("/submissions/" + str(uuid.uuid4())).status_code == 401 for _ in range(6)
                ),
                15,
                "the token to be refused",
            )


def test_the_tokens_in_use_are_checked_again_together_and_the_idle_ones_forgotten(stack: Stack):
    """The API's token cache (api.deps.TokenCache) on the real database: one query checks every token in use
    again, keeping those that still work past their first `ttl`, dropping a removed user's and a changed one's."""
    from api.deps import TokenCache
    from gradeflow.db import make_engine

    tokens = [stack.new_user() for _ in range(6)]
    ids = []
    for t in tokens:
        with stack.client(t) as c:
            ids.append(c.get("/me").json()["id"])
    stack.sql_write("DELETE FROM enrollments WHERE user_id = :id", id=ids[0])
    stack.sql_write("DELETE FROM users WHERE id = :id", id=ids[0])

    async def scenario():
        engine = make_engine(stack.database_url, pool_size=1)
        cache = TokenCache(engine, ttl=60)
        try:
            assert await cache.principal(tokens[0]) is None, "a removed user's token is refused"
            found = [await cache.principal(t) for t in tokens[1:]]
            assert [p.id for p in found] == ids[1:] and cache.cached(tokens[0]) is None
            await cache_later(cache, tokens)
            stack.sql_write(
                "UPDATE users SET token_hash = :h WHERE id = :id", h=uuid.uuid4().hex, id=ids[1]
            )
            for t in tokens[1:5]:  # in use; the last is not
                assert cache.cached(t) is not None
            await cache_later(cache, tokens)
            await cache.check_again()
            kept = [cache.cached(t) for t in tokens[1:]]
            assert [p and p.id for p in kept] == [None, *ids[2:5], None], (
                "the changed token is forgotten, those in use kept, the idle one dropped"
            )
            assert await cache.principal(tokens[1]) is None
            assert (await cache.principal(tokens[5])).id == ids[5], "an idle one is looked up again"
        finally:
            await engine.dispose()

    run_async(scenario)


def test_tokens_asked_for_at_once_are_looked_up_together(stack: Stack):
    """A rush's first requests each bring a token the API has not seen: those asked for while a look-up is in
    progress are looked up in one query (api.deps.TokenCache), each answered with its own holder; an unknown one is
    refused; PostgreSQL down is a PostgreSQL failure for each asker."""
    from api.deps import TokenCache
    from api.errors import POSTGRES, dependency_of
    from gradeflow.db import make_engine

    tokens = [stack.new_user() for _ in range(12)]
    ids = []
    for t in tokens:
        with stack.client(t) as c:
            ids.append(c.get("/me").json()["id"])
    unknown = f"gf_{uuid.uuid4().hex}"

    async def scenario():
        engine = make_engine(stack.database_url, pool_size=2)
        cache = TokenCache(engine, ttl=60)
        try:
            # Some twice, as a submission and its events stream are
            asked = [*tokens, unknown, *tokens[:3]]
            found = await asyncio.gather(*(cache.principal(t) for t in asked))
            assert [p and p.id for p in found] == [*ids, None, *ids[:3]]
            assert cache.queries == 1, "one query for all of them"
            assert cache.asked == {} and cache.looking is None
            assert (await cache.principal(tokens[0])).id == ids[0] and cache.queries == 1, "cached"
        finally:
            await cache.close()
            await engine.dispose()
        nowhere = make_engine(f"postgresql://gradeflow@127.0.0.1:{free_port()}/none", pool_size=2)
        cache = TokenCache(nowhere, ttl=60)
        try:
            failures = await asyncio.gather(
                *(cache.principal(t) for t in tokens[:4]), return_exceptions=True
            )
            assert all(dependency_of(f) == POSTGRES for f in failures), failures
            assert cache.queries == 1
        finally:
            await cache.close()
            await nowhere.dispose()

    run_async(scenario)


async def cache_later(cache, tokens: list[str]) -> None:
    """As if half their time-to-live had passed since the cache last checked these tokens."""
    from gradeflow.tokens import hash_token

    for t in tokens:
        known = cache.entries.get(hash_token(t))
        if known is not None:
            known.checked -= cache.ttl / 2


@workflow.defn(sandboxed=False)
class WaitForGo:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go, timeout=timedelta(minutes=10))
        return "resumed"

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


def test_the_tuned_embedded_temporal_resumes_workflows_after_a_restart(tmp_path: Path):
    ports = dict(
        postgres_port=0,
        redis_port=free_port(),
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
    )
    first = EmbeddedServices(tmp_path, **ports)
    address = first.start_temporal()
    database = tmp_path / "temporal" / "temporal.db"
    try:
        assert sqlite3.connect(database).execute("PRAGMA journal_mode").fetchone()[0] == "wal"

        async def start() -> None:
            client = await Client.connect(address)
            await client.start_workflow(
                WaitForGo.run, id="survives-restart", task_queue="restart-test"
            )

        run_async(start)
    finally:
        first.stop()  # the server goes away with the workflow waiting in its database file
    second = EmbeddedServices(tmp_path, **ports)
    address = second.start_temporal()
    try:

        async def resume() -> str:
            client = await Client.connect(address)
            async with Worker(client, task_queue="restart-test", workflows=[WaitForGo]):
                handle = client.get_workflow_handle("survives-restart")
                await handle.signal(WaitForGo.proceed)
                return await asyncio.wait_for(handle.result(), 60)

        assert run_async(resume) == "resumed"
    finally:
        second.stop()


def test_the_locustfile_runs_headless_against_the_stack_without_failures(
    stack: Stack, tmp_path: Path
):
    from benchmarks.loadtest import make_users, read_stats, run_locust

    make_users(stack, 6, 1, 1, tmp_path / "users.json")
    prefix = tmp_path / "locust"
    code = run_locust(
        stack.api_url,
        tmp_path / "users.json",
        "rush",
        students=3,
        rush=3,
        duration=12,
        instructors=1,
        operators=1,
        prefix=prefix,
        stop_timeout=60,
    )
    rows = {(r["Type"], r["Name"]): r for r in read_stats(prefix)}
    total = rows[("", "Aggregated")]
    assert int(total["Request Count"]) > 20 and int(total["Failure Count"]) == 0, total
    assert code == 0
    # The rush submitted
    assert int(rows[("POST", "/assignments/{id}/submissions")]["Request Count"]) >= 3
    assert int(rows[("GRADING", "submit -> result")]["Request Count"]) >= 3
    assert int(rows[("GET", "/submissions/{id}/events")]["Request Count"]) >= 3
