"""Sandbox cost per grading of a 3-test unittest submission: fork server, fresh-interpreter fallback, and a fresh
unsandboxed interpreter running the same tests; then gradings per second with 2 x cores at once."""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import machine, write_section
from gradeflow.vocabulary import Verdict
from sandbox import Sandbox, SandboxJob
from sandbox.client import PROBE_CODE, PROBE_TESTS

TESTS, SOLUTION = PROBE_TESTS, PROBE_CODE
RUNS = int(os.environ.get("BENCH_SANDBOX_RUNS", "200"))
THROUGHPUT_SECONDS = float(os.environ.get("BENCH_THROUGHPUT_SECONDS", "10"))


async def sequential(sandbox: Sandbox, runs: int) -> tuple[list[float], list[float]]:
    job = SandboxJob(code=SOLUTION, test_code=TESTS)
    walls, cpus = [], []
    for _ in range(runs):
        started = time.perf_counter()
        result = await sandbox.run_in_sandbox(job)
        walls.append((time.perf_counter() - started) * 1000)
        assert result.verdict == Verdict.PASSED, result
        cpus.append(result.cpu_ms + result.judge_cpu_ms)
    return walls, cpus


async def throughput(sandbox: Sandbox, concurrency: int, seconds: float) -> float:
    job = SandboxJob(code=SOLUTION, test_code=TESTS)
    done = 0
    deadline = time.perf_counter() + seconds

    async def lane():
        nonlocal done
        while time.perf_counter() < deadline:
            assert (await sandbox.run_in_sandbox(job)).verdict == Verdict.PASSED
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def unsandboxed(runs: int) -> tuple[list[float], list[float]]:
    """The same three tests in a fresh interpreter with no isolation at all: the floor a sandbox is compared to."""
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "solution.py").write_text(SOLUTION)
        Path(tmp, "test_solution.py").write_text(TESTS)
        argv = [
            sys.executable,
            "-I",
            "-S",
            "-c",
            "import sys, unittest; sys.path.insert(0, '.'); "
            "r = unittest.TextTestRunner(stream=open('/dev/null', 'w')).run("
            "unittest.defaultTestLoader.loadTestsFromName('test_solution')); sys.exit(not r.wasSuccessful())",
        ]
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(argv, cwd=tmp, env={}, check=True)
            walls.append((time.perf_counter() - started) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(
                (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
            )
    return walls, cpus


async def main() -> None:
    concurrency = 2 * (os.cpu_count() or 1)
    rows = []
    rates = {}
    for mode in ("forkserver", "fresh"):
        sandbox = await Sandbox(mode).start()
        try:
            await sequential(sandbox, 10)  # warm-up
            walls, cpus = await sequential(sandbox, RUNS)
            rates[mode] = await throughput(sandbox, concurrency, THROUGHPUT_SECONDS)
        finally:
            await sandbox.close()
        rows.append((mode, statistics.median(walls), statistics.median(cpus), rates[mode]))
        print(
            f"{mode}: median {rows[-1][1]:.1f} ms wall, {rows[-1][2]:.1f} ms CPU, {rates[mode]:.0f} gradings/s"
        )
    walls, cpus = unsandboxed(RUNS)
    baseline = (statistics.median(walls), statistics.median(cpus))
    print(
        f"fresh unsandboxed interpreter: median {baseline[0]:.1f} ms wall, {baseline[1]:.1f} ms CPU"
    )

    fork_wall = rows[0][1]
    body = f"""## Sandbox cost per grading (issue #3)

Command: `make bench` (`python -m benchmarks.sandbox`; {RUNS} sequential gradings per row after 10 warm-up
runs, then {THROUGHPUT_SECONDS:g} s with {concurrency} gradings at once). Job: the 3-test unittest submission
`add(a, b)`, graded with the verdict computed outside the sandbox. CPU is the judge's plus the sandbox's.
Machine: {machine()}.

| how it runs | median wall ms | median CPU ms | gradings/s ({concurrency} at once) |
| --- | ---: | ---: | ---: |
| fork server (production default: namespaces, empty root, seccomp, judge outside) | {rows[0][1]:.1f} | {rows[0][2]:.1f} | {rows[0][3]:.0f} |
| fresh interpreter per job (fallback, same isolation) | {rows[1][1]:.1f} | {rows[1][2]:.1f} | {rows[1][3]:.0f} |
| fresh interpreter, no sandbox at all (`python -I -S`, tests in-process) | {baseline[0]:.1f} | {baseline[1]:.1f} | |

Target: <= 15 ms median per grading with the production sandbox: **{"met" if fork_wall <= 15 else "missed"}**
({fork_wall:.1f} ms, {fork_wall / baseline[0]:.2f}x the unsandboxed fresh interpreter).
"""
    write_section("sandbox", body)
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    asyncio.run(main())
