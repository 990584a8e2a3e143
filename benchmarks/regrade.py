"""Cohort regrades: 10,000 submissions with the production sandbox against the raw sandbox rate measured in the
same run; chunked activities against a child workflow per submission; live latency during a 5,000 regrade."""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import threading
import time
import uuid

from sqlalchemy import select

from benchmarks.report import machine, write_section
from benchmarks.stack import bench_stack
from gradeflow.accounts import add_cohort, add_user
from gradeflow.launch.roles import Stack
from gradeflow.launch.synthetic import DEMO_ANSWERS, synthetic_cohort
from gradeflow.models import Assignment
from gradeflow.settings import Settings
from gradeflow.vocabulary import BATCH_ENDED, FINAL_STATUSES, BatchStatus, Role
from sandbox import Sandbox, SandboxJob
from workflows.regrade_cohort import RegradeSettings

BIG = int(os.environ.get("BENCH_REGRADE_SUBMISSIONS", "10000"))
LIVE_DURING = int(os.environ.get("BENCH_REGRADE_LIVE_SUBMISSIONS", "5000"))
COMPARE = int(os.environ.get("BENCH_REGRADE_COMPARE", "1000"))
RAW_SECONDS = float(os.environ.get("BENCH_RAW_SECONDS", "10"))


def answers(stack: Stack) -> dict[int, list]:
    async def ids(session):
        return dict((await session.execute(select(Assignment.slug, Assignment.id))).all())

    slugs = stack.db(ids)
    return {slugs[s]: a for s, a in DEMO_ANSWERS.items()}


def cohort(stack: Stack, submissions: int) -> tuple[str, str]:
    """A cohort with `submissions` graded submissions (two assignments per student) and its instructor."""
    slug = f"bench-{uuid.uuid4().hex[:6]}"
    by_assignment = answers(stack)
    stack.db(lambda s: synthetic_cohort(s, slug, submissions // len(by_assignment), by_assignment))
    _, token = stack.db(lambda s: add_user(s, f"teacher-{slug}", Role.INSTRUCTOR, slug))
    return slug, token


def regrade(stack: Stack, token: str, slug: str, **options) -> dict:
    with stack.client(token) as c:
        batch = c.post("/regrades", json={"cohort": slug, **options}).json()
        while batch["status"] not in BATCH_ENDED:
            time.sleep(0.25)
            batch = c.get(f"/regrades/{batch['id']}").json()
    assert batch["status"] == BatchStatus.COMPLETED and batch["errors"] == 0, batch
    seconds = batch_time(batch)
    return {**batch, "seconds": seconds, "rate": batch["done"] / seconds}


def batch_time(batch: dict) -> float:
    from datetime import datetime

    return (
        datetime.fromisoformat(batch["finished_at"]) - datetime.fromisoformat(batch["started_at"])
    ).total_seconds()


def raw_sandbox_rate(jobs: list[SandboxJob], concurrency: int, seconds: float) -> float:
    """Gradings per second of the bare sandbox on the same jobs and concurrency a regrade uses."""

    async def run() -> float:
        sandbox = await Sandbox("forkserver").start()
        try:
            cycle = itertools.cycle(jobs)
            done = 0
            deadline = time.perf_counter() + seconds

            async def lane():
                nonlocal done
                while time.perf_counter() < deadline:
                    await sandbox.run_in_sandbox(next(cycle))
                    done += 1

            started = time.perf_counter()
            await asyncio.gather(*(lane() for _ in range(concurrency)))
            return done / (time.perf_counter() - started)
        finally:
            await sandbox.close()

    return asyncio.run(run())


def live_latencies(stack: Stack, stop: threading.Event, out: list[float]) -> None:
    """Submit like students do, one after another, and time submit -> result visible."""

    async def make_students(session):
        cohort = f"live-{uuid.uuid4().hex[:8]}"
        # Offered the course: students submit as members of a cohort
        await add_cohort(session, cohort)
        return [
            (await add_user(session, f"live-{uuid.uuid4().hex[:8]}", Role.STUDENT, cohort))[1]
            for _ in range(400)
        ]

    tokens = stack.db(make_students)
    hello = answers(stack)
    hello_id = min(hello)  # the first seeded assignment
    for token in itertools.cycle(tokens):
        if stop.is_set():
            return
        with stack.client(token) as c:
            started = time.perf_counter()
            sub = c.post(
                f"/assignments/{hello_id}/submissions",
                json={"code": f"# {uuid.uuid4()}\ndef hello():\n    return 'Hello'\n"},
            ).json()
            while c.get(f"/submissions/{sub['id']}").json()["status"] not in FINAL_STATUSES:
                time.sleep(0.01)
            out.append(time.perf_counter() - started)
        time.sleep(0.25)


def main() -> None:
    concurrency = Settings().regrade_concurrency
    with bench_stack() as stack:
        jobs = [
            SandboxJob(code=a.code, test_code=test_code, limits=limits)
            for test_code, limits, options in stack.db(_assignment_jobs)
            for a in options
        ]
        raw = raw_sandbox_rate(jobs, concurrency, RAW_SECONDS)
        print(f"raw sandbox: {raw:.1f} gradings/s ({concurrency} at once)")

        compare = {}
        for strategy in ("chunks", "children"):
            slug, token = cohort(stack, COMPARE)
            compare[strategy] = regrade(stack, token, slug, strategy=strategy)
            print(
                f"{strategy}: {COMPARE} in {compare[strategy]['seconds']:.1f} s "
                f"({compare[strategy]['rate']:.0f}/s)"
            )

        slug, token = cohort(stack, BIG)
        big = regrade(stack, token, slug)
        print(
            f"regrade of {big['done']}: {big['seconds']:.1f} s, {big['rate']:.0f}/s, {big['rate'] / raw:.2f} of raw"
        )

        slug, token = cohort(stack, LIVE_DURING)
        latencies: list[float] = []
        stop = threading.Event()
        submitter = threading.Thread(target=live_latencies, args=(stack, stop, latencies))
        submitter.start()
        during = regrade(stack, token, slug)
        stop.set()
        submitter.join()
        p50 = statistics.median(latencies)
        p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 20 else max(latencies)
        print(
            f"live during a {during['done']} regrade: {len(latencies)} submissions, p50 {p50 * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms"
        )

    body = f"""## Cohort regrades (issue #4)

Command: `make bench` (`python -m benchmarks.regrade`). A whole stack started by the benchmark (embedded
PostgreSQL, Redis, Temporal dev server; `gradeflow worker` and `gradeflow api` as processes); synthetic cohorts
whose students each have a graded submission for "Hello" and "Sum" (right, hard-coded and wrong answers); each
regrade started through the API and followed until `completed`. Regrade concurrency: {concurrency} sandboxes.
Machine: {machine()}.

| what | figure |
| --- | ---: |
| raw sandbox rate, same jobs, {concurrency} at once, {RAW_SECONDS:g} s | {raw:.1f} gradings/s |
| regrade of {big["done"]:,} submissions (chunks, production sandbox) | {big["seconds"]:.1f} s, {big["rate"]:.1f}/s |
| ratio to the raw sandbox rate | {big["rate"] / raw:.2f} |
| live submissions during a {during["done"]:,}-submission regrade | {len(latencies)} graded, p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms |

Targets: 10,000 in <= 100 s: **{"met" if big["seconds"] <= 100 else "missed"}**; >= 0.7 of the raw rate:
**{"met" if big["rate"] / raw >= 0.7 else "missed"}**; live p95 < 2 s during a 5,000 regrade:
**{"met" if p95 < 2 else "missed"}**.

Chunked activities against a child workflow per submission, {COMPARE:,} submissions each, same run:

| strategy | time | rate |
| --- | ---: | ---: |
| chunks of {RegradeSettings().chunk_size} submissions per activity (default) | {compare["chunks"]["seconds"]:.1f} s | {compare["chunks"]["rate"]:.1f}/s |
| one child workflow per submission | {compare["children"]["seconds"]:.1f} s | {compare["children"]["rate"]:.1f}/s |
"""
    write_section("regrade", body)
    print("wrote BENCHMARKS.md")


async def _assignment_jobs(session):
    rows = (
        await session.execute(select(Assignment).where(Assignment.slug.in_(list(DEMO_ANSWERS))))
    ).scalars()
    return [(a.test_code, dict(a.limits), DEMO_ANSWERS[a.slug]) for a in rows]


if __name__ == "__main__":
    main()
