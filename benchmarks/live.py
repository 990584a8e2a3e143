"""The live path under a deadline rush, measured in one run on the embedded stack: the bare one-activity workflow
rate on the same Temporal (the ceiling), 1,000 students submitting at once and watching their results, one
submission at a time, and cached reads with a load generator that is not the bottleneck (wrk)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import uvloop
from sqlalchemy import select
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks import cpu
from benchmarks.bare_workflow import BARE_TASK_QUEUE, BareWorkflow, bare_activity
from benchmarks.report import machine, write_section
from benchmarks.stack import bench_stack
from gradeflow.launch.roles import RoleProcess
from gradeflow.launch.synthetic import synthetic_students
from gradeflow.models import Assignment
from gradeflow.settings import Settings
from gradeflow.vocabulary import FINAL_STATUSES, SubmissionStatus

RUSH = int(os.environ.get("BENCH_RUSH_STUDENTS", "1000"))
BARE = int(os.environ.get("BENCH_BARE_WORKFLOWS", "1000"))
IDLE = int(os.environ.get("BENCH_IDLE_SUBMISSIONS", "60"))
READ_SECONDS = int(os.environ.get("BENCH_READ_SECONDS", "10"))
# How students follow their result, one rush each, in this order: "events" (the server-sent events stream the
# dashboard uses) and "poll" (GET once a second, as a script or an old page does, ignoring Retry-After).
FOLLOW = os.environ.get("BENCH_FOLLOW", "events,poll").split(",")
WRK_RATE = Path(__file__).resolve().parent / "wrk_rate.lua"


def sum_code(i: int) -> str:
    """A correct "Sum", different for every student (as real code is), so the result cache answers none."""
    return f"# student {i} {uuid.uuid4().hex[:6]}\ndef sum(a, b):\n    total = a + b\n    return total\n"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def follow(
    c: aiohttp.ClientSession, headers: dict, sub_id: str, mode: str, interval: float
) -> dict:
    """Wait for a submission's final status the way a page does: its events stream, or polling."""
    if mode == "events":
        async with c.get(f"/api/v1/submissions/{sub_id}/events", headers=headers) as stream:
            stream.raise_for_status()
            async for line in stream.content:
                if line.startswith(b"data:"):
                    body = json.loads(line[5:])
                    if body["status"] in FINAL_STATUSES:
                        return body
        raise RuntimeError(f"events stream of {sub_id} ended before a final status")
    while True:
        async with c.get(f"/api/v1/submissions/{sub_id}", headers=headers) as r:
            body = await r.json()
        if body.get("status") in FINAL_STATUSES:
            return body
        await asyncio.sleep(interval)


def session(api_url: str) -> aiohttp.ClientSession:
    """aiohttp, not httpx: with a thousand connections open, httpx's pool becomes the slowest part of the run."""
    return aiohttp.ClientSession(
        base_url=api_url,
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=300),
    )


async def bare_rate(address: str, n: int) -> float:
    """Bare one-activity workflows per second: started as fast as the server takes them, run by a worker here."""
    client = await Client.connect(address)
    run = uuid.uuid4().hex[:8]
    async with Worker(
        client,
        task_queue=BARE_TASK_QUEUE,
        workflows=[BareWorkflow],
        activities=[bare_activity],
        max_concurrent_activities=200,
    ):
        gate = asyncio.Semaphore(200)

        async def one(i: int) -> int:
            async with gate:
                handle = await client.start_workflow(
                    BareWorkflow.run, i, id=f"bare-{run}-{i}", task_queue=BARE_TASK_QUEUE
                )
            return await handle.result()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


@dataclass
class Rush:
    accepted_within: float
    statuses: dict[int, int]
    drain_rate: float
    p50: float
    p95: float
    finals: dict[str, int]
    ids: list[str]


def submit_sum(c: aiohttp.ClientSession, assignment_id: int, i: int, headers: dict):
    """Student i's answer to Sum (each student's code differs, so the result cache cannot answer)."""
    return c.post(
        f"/api/v1/assignments/{assignment_id}/submissions",
        json={"code": sum_code(i)},
        headers=headers,
    )


async def rush(api_url: str, tokens: list[str], assignment_id: int, mode: str) -> Rush:
    """Every student submits at the same moment, then follows their own result until it is final."""
    async with session(api_url) as c:
        go, all_waiting = asyncio.Event(), asyncio.Event()
        waiting = 0

        async def student(i: int, token: str):
            nonlocal waiting
            headers = {"Authorization": f"Bearer {token}"}
            waiting += 1
            if waiting == len(tokens):
                all_waiting.set()
            await go.wait()
            sent = time.perf_counter()
            async with submit_sum(c, assignment_id, i, headers) as r:
                status, body = r.status, await r.json()
            accepted = time.perf_counter()
            if status not in (201, 202):
                return sent, accepted, None, status, None
            final = await follow(c, headers, body["id"], mode, interval=1.0)
            return sent, accepted, time.perf_counter(), status, final

        tasks = [asyncio.create_task(student(i, t)) for i, t in enumerate(tokens)]
        await all_waiting.wait()
        start = time.perf_counter()
        go.set()
        results = await asyncio.gather(*tasks)
    statuses = dict(Counter(r[3] for r in results))
    done = [r for r in results if r[2] is not None]
    finals = dict(Counter(r[4]["status"] for r in done))
    latencies = [r[2] - r[0] for r in done]
    return Rush(
        accepted_within=max(r[1] for r in results) - start,
        statuses=statuses,
        drain_rate=len(done) / (max(r[2] for r in done) - start),
        p50=statistics.median(latencies),
        p95=pct(latencies, 0.95),
        finals=finals,
        ids=[r[4]["id"] for r in done],
    )


async def one_at_a_time(
    api_url: str, tokens: list[str], assignment_id: int, mode: str
) -> list[float]:
    """Submit and wait for the result, one submission after another (each by another student)."""
    latencies = []
    async with session(api_url) as c:
        for i, token in enumerate(tokens):
            headers = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            async with submit_sum(c, assignment_id, i, headers) as r:
                r.raise_for_status()
                sub_id = (await r.json())["id"]
            await follow(c, headers, sub_id, mode, interval=0.005)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)
    return latencies[5:]  # the first few warm connections and caches


def wrk(url: str, token: str, seconds: int) -> float:
    """Requests per second flat out (wrk: 2 threads, 64 connections)."""
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{seconds}s", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} failed responses from {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def wrk_at_rate(url: str, token: str, seconds: int, rate: int) -> tuple[float, float, float]:
    """(offered requests/s, p50 s, p95 s) with `rate` requests per second offered at random moments
    (wrk with benchmarks/wrk_rate.lua: 50 connections, each waiting a random delay before every request)."""
    connections = 50
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            str(WRK_RATE),
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "WRK_MEAN_DELAY_MS": str(1000 * connections / rate)},
    ).stdout
    found = dict(re.findall(r"(\w+)=([\d.]+)", out.split("GRADEFLOW", 1)[1]))
    if float(found["errors"]):
        raise RuntimeError(f"wrk saw {found['errors']} failed requests from {url}:\n{out}")
    return (
        float(found["requests"]) / float(found["seconds"]),
        float(found["p50_us"]) / 1e6,
        float(found["p95_us"]) / 1e6,
    )


def session_of(role: RoleProcess) -> int:
    assert role.proc is not None, "the stack started it"
    return role.proc.pid  # started in a session of its own


def need_load_tools() -> None:
    missing = [t for t in ("wrk",) if shutil.which(t) is None]
    if missing:
        raise SystemExit(
            f"{', '.join(missing)} missing: install Debian's packages (`make bench` does)"
        )


def main() -> None:
    need_load_tools()
    speed = cpu.interpreter_start_ms()
    with bench_stack() as stack:

        async def sum_id(session):
            return (
                await session.execute(select(Assignment.id).where(Assignment.slug == "sum"))
            ).scalar_one()

        assignment_id = stack.db(sum_id)
        students = stack.db(
            lambda s: synthetic_students(s, f"rush-{uuid.uuid4().hex[:6]}", RUSH + IDLE + 1)
        )
        tokens = [t for _, t in students]
        address = stack.services.urls["temporal_address"]

        # uvloop, as GradeFlow's worker and API run: for the bare worker here (a fair ceiling) and for the load
        # generator (whose own event loop otherwise delays the answers it times)
        bare = uvloop.run(bare_rate(address, BARE))
        print(f"bare one-activity workflow: {bare:.1f}/s", flush=True)

        idle = uvloop.run(
            one_at_a_time(stack.api_url, tokens[RUSH : RUSH + IDLE], assignment_id, FOLLOW[0])
        )
        idle_p50, idle_p95 = statistics.median(idle), pct(idle, 0.95)
        print(
            f"one at a time: p50 {idle_p50 * 1000:.0f} ms, p95 {idle_p95 * 1000:.0f} ms", flush=True
        )

        rushes: dict[str, tuple[Rush, dict[str, float], int]] = {}
        for mode in FOLLOW:
            before = cpu.Sample.now()
            r = uvloop.run(rush(stack.api_url, tokens[:RUSH], assignment_id, mode))
            parts = cpu.spent(
                before,
                cpu.Sample.now(),
                {
                    "worker (and its sandbox fork server)": session_of(stack.worker),
                    "API": session_of(stack.api),
                }
                | stack.services.sessions(),
            )
            print(f"following by {mode}:", flush=True)
            print(cpu.table(parts, RUSH, "submission"), flush=True)
            print(
                f"rush: accepted {r.statuses} within {r.accepted_within:.2f} s; drained {r.finals} at "
                f"{r.drain_rate:.1f}/s ({r.drain_rate / bare:.2f} of bare); p50 {r.p50:.1f} s, p95 {r.p95:.1f} s",
                flush=True,
            )
            runs = stack.sql(
                "SELECT s.status, count(g.id) FROM submissions s LEFT JOIN grading_runs g "
                "ON g.submission_id = s.id AND g.regrade_batch_id IS NULL "
                "WHERE s.id = ANY(CAST(:ids AS uuid[])) GROUP BY s.id, s.status",
                ids=r.ids,
            )
            once = sum(1 for status, n in runs if status == SubmissionStatus.GRADED and n == 1)
            print(f"graded with exactly one grading_run: {once} of {RUSH}", flush=True)
            rushes[mode] = (r, parts, once)

        graded = tokens[RUSH + IDLE]
        with stack.client(graded) as c:
            sub = c.post(
                f"/assignments/{assignment_id}/submissions", json={"code": sum_code(-1)}
            ).json()
        stack.wait_graded(graded, sub["id"])
        status_url = f"{stack.api_url}/api/v1/submissions/{sub['id']}"
        list_url = f"{stack.api_url}/api/v1/assignments"
        reads = {}
        for name, url in (("GET /submissions/{id}", status_url), ("GET /assignments", list_url)):
            flat = wrk(url, graded, READ_SECONDS)
            offered, p50, p95 = wrk_at_rate(url, graded, READ_SECONDS, 500)
            reads[name] = (flat, offered, p50, p95)
            print(
                f"{name}: {flat:.0f}/s flat out; at {offered:.0f}/s offered p50 {p50 * 1000:.1f} ms, "
                f"p95 {p95 * 1000:.1f} ms",
                flush=True,
            )
        workers = (
            stack.env.get("GRADEFLOW_API_WORKERS") or f"{Settings().api_workers}, one per core"
        )

    def met(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    def own_python(parts: dict[str, float]) -> float:
        """GradeFlow's own processes (worker and API), ms per submission."""
        return 1000 * sum(v for k, v in parts.items() if k.startswith(("worker", "API"))) / RUSH

    body = f"""## The live path: a deadline rush (issues #9, #24)

Command: `make bench` (`python -m benchmarks.live`; `BENCH_RUSH_STUDENTS`, `BENCH_FOLLOW=events,poll`). A whole
stack started by the benchmark as `gradeflow up` runs it (embedded PostgreSQL, Redis and Temporal dev server with
its tuned database file; `gradeflow worker` and `gradeflow api` as processes, API workers: {workers}); the load
generator (aiohttp on uvloop, as is the bare workflows' worker) on the same 2-core machine. One rush per way of following a result, in the same run: by **events** (the
stream the dashboard uses) and by **polling** `GET /submissions/{{id}}` once a second (ignoring Retry-After, as a
naive script does). Each student's "Sum" is correct and different, so the result cache answers none of them.
Machine: {machine()}; a bare interpreter (`python -I -S -c pass`) started in {speed:.1f} ms (median of 20), the
machine's speed that day.

| what | figure | target |
| --- | ---: | --- |
| bare one-activity workflow on the same Temporal, {BARE:,} started at once (the ceiling) | {bare:.1f}/s | |
| one submission at a time, submit -> result p50 / p95 ({len(idle)} submissions) | {idle_p50 * 1000:.0f} ms / {idle_p95 * 1000:.0f} ms | <= 120 / 200 ms: {met(idle_p50 <= 0.12 and idle_p95 <= 0.2)} |
"""
    events = rushes.get("events")
    for mode, (r, parts, once) in rushes.items():
        total, own = 1000 * sum(parts.values()) / RUSH, own_python(parts)
        body += f"""| **{RUSH:,} students submit at once and follow by {mode}**: all answered | {r.accepted_within:.2f} s ({r.statuses}) | all 202 within 2 s: {met(r.accepted_within <= 2 and r.statuses.get(202) == RUSH)} |
| ... graded with exactly one grading_run | {once:,} of {RUSH:,} | all: {met(once == RUSH)} |
| ... drained | {r.drain_rate:.1f}/s, {r.drain_rate / bare:.2f} of bare | """
        if mode == "events" or events is None:
            body += f">= 0.85 of bare: {met(r.drain_rate / bare >= 0.85)} |\n"
        else:
            ratio = r.drain_rate / events[0].drain_rate
            body += f"{ratio:.2f} of the events rush; >= 0.75: {met(ratio >= 0.75)} |\n"
        body += f"""| ... submit -> result p50 / p95 | {r.p50:.1f} s / {r.p95:.1f} s | p95 <= 30 s: {met(r.p95 <= 30)} |
| ... CPU per submission, all parts / GradeFlow's own Python (worker and API) | {total:.1f} / {own:.1f} ms | <= 50 / <= 15 ms: {met(total <= 50 and own <= 15)} |
"""
    body += f"""
Where the CPU went during each rush (`benchmarks/cpu.py`: CPU seconds per process session from /proc, divided by
the {RUSH:,} submissions; 2 cores give 2,000 ms a second, so a drain of 40/s leaves 50 ms per submission for all
of it):
"""
    for mode, (_, parts, _) in rushes.items():
        body += f"\nFollowing by {mode}:\n\n{cpu.table(parts, RUSH, 'submission')}\n"
    body += """
| what | figure | target |
| --- | ---: | --- |
"""
    for name, (flat, offered, p50, p95) in reads.items():
        body += f"| {name} (graded, cached): flat out (wrk -t2 -c64) | {flat:,.0f}/s | "
        body += f">= 3,000/s: {met(flat >= 3000)} |\n" if name == "GET /submissions/{id}" else "|\n"
        body += (
            f"| {name}: {offered:.0f}/s offered at random moments (wrk, wrk_rate.lua), p50 / p95 | "
            f"{p50 * 1000:.1f} / {p95 * 1000:.1f} ms | p95 <= 20 ms: {met(p95 <= 0.02)} |\n"
        )
    write_section("live", body)
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
