"""Languages: what grading C, C++, Java and JavaScript costs, each beside the same work done bare (the compiler and
the program run directly: no sandbox, no workflow), all measured in one run.

1. The sandbox alone (the worker's fork server with a compile cache): compile time; a warm-cache grading of the
   seeded Sum (4 I/O cases) and its time per test; gradings per second with 4 at once, warm and cold cache.
2. The whole platform, idle: submit -> result p50/p95 of distinct programs one at a time (each compiles).
3. A regrade of 1,000 C submissions with a warm compile cache against the same binaries run bare with 4 at once:
   Sum (each test is a millisecond: start-up is all there is) and Primes (each test computes for tens of ms).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.regrade import regrade
from benchmarks.report import machine, write_section
from benchmarks.stack import bench_stack
from gradeflow import languages
from gradeflow.accounts import add_cohort, add_user
from gradeflow.languages.base import WORK
from gradeflow.launch.seed_languages import LANGUAGE_COURSE, SUM_CASES
from gradeflow.launch.synthetic import Answer, synthetic_cohort
from gradeflow.vocabulary import FINAL_STATUSES, Role, Verdict
from sandbox import Sandbox, SandboxJob

LIMITS = {"cpu_seconds": 2, "wall_seconds": 5, "memory_mb": 256, "output_kb": 64}
AT_ONCE = 4
SECONDS = float(os.environ.get("BENCH_LANGUAGES_SECONDS", "8"))
WARM_RUNS = int(os.environ.get("BENCH_LANGUAGES_RUNS", "20"))
IDLE_RUNS = int(os.environ.get("BENCH_LANGUAGES_IDLE", "12"))
REGRADE = int(os.environ.get("BENCH_LANGUAGES_REGRADE", "1000"))
COMPILED = [name for name in ("c", "cpp", "java", "javascript") if name not in languages.missing()]
SUM = {
    seed.language: seed.reference_solution
    for seed in LANGUAGE_COURSE
    if seed.slug.startswith("sum-")
}
PYTHON_SUM = "import sys\nprint(sum(int(w) for w in sys.stdin.read().split()))\n"

PRIMES = """#include <stdio.h>

int main(void) {
    long n, count = 0;
    if (scanf("%ld", &n) != 1) return 1;
    for (long k = 2; k < n; k++) {
        int prime = 1;
        for (long d = 2; d * d <= k; d++) {
            if (k % d == 0) { prime = 0; break; }
        }
        count += prime;
    }
    printf("%ld\\n", count);
    return 0;
}
"""


def primes_below(n: int) -> int:
    sieve = bytearray([1]) * n
    sieve[:2] = b"\0\0"
    for k in range(2, int(n**0.5) + 1):
        if sieve[k]:
            sieve[k * k :: k] = bytearray(len(range(k * k, n, k)))
    return sum(sieve)


PRIMES_CASES = [
    {"stdin": f"{n}\n", "stdout": f"{primes_below(n)}\n"}
    for n in (200_000, 250_000, 300_000, 350_000)
]


def unique(code: str, comment: str = "/* {} */") -> str:
    """The same program with a unique comment, so no cache has it."""
    return comment.format(uuid.uuid4()) + "\n" + code


def ms(seconds: float) -> float:
    return seconds * 1000


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


# --- bare: the compiler and the program run directly ----------------------------------------------------------
class Bare:
    """One language's compile and run command lines, as the sandbox uses them, run in a directory of their own."""

    def __init__(self, name: str) -> None:
        self.language = languages.get(name)
        self.toolchain = languages.toolchain(name)
        self.limits = self.language.limits(LIMITS)

    @staticmethod
    def _here(values: list[str] | dict[str, str], where: str) -> Any:
        if isinstance(values, dict):
            return {k: v.replace(WORK, where) for k, v in values.items()}
        return [v.replace(WORK, where) for v in values]

    def compile(self, code: str, where: str) -> dict[str, bytes]:
        """Compile into `where`; the files the run needs (what the sandbox's compile brings back)."""
        program = self.language.compile_program(self.toolchain, code, "")
        for name, content in program.files.items():
            Path(where, name).write_bytes(content)
        subprocess.run(
            self._here(program.argv, where),
            cwd=where,
            env=self._here(program.env, where),
            check=True,
            capture_output=True,
        )
        artifact = {}
        for path in Path(where).iterdir():
            if any(path.match(pattern) for pattern in program.collect):
                artifact[path.name] = path.read_bytes()
        return artifact or dict(program.files)

    def run(self, artifact: dict[str, bytes], where: str, cases: list[dict]) -> None:
        program = self.language.run_program(self.toolchain, artifact, self.limits, "")
        argv, env = self._here(program.argv, where), self._here(program.env, where)
        for case in cases:
            done = subprocess.run(
                argv, cwd=where, env=env, input=case["stdin"].encode(), capture_output=True
            )
            assert done.stdout.decode().strip() == case["stdout"].strip(), (argv, done)

    def grade(self, code: str, cases: list[dict], compiled: tuple[dict, str] | None = None) -> None:
        """A whole bare grading: compile in a directory of its own, then every case; or, with `compiled` (its
        files and their directory), only the cases."""
        if compiled is not None:
            self.run(compiled[0], compiled[1], cases)
            return
        with tempfile.TemporaryDirectory() as where:
            self.run(self.compile(code, where), where, cases)


def rate(work, at_once: int, seconds: float) -> float:
    """Calls of `work()` per second with `at_once` threads for `seconds`."""
    deadline = time.perf_counter() + seconds
    counts = [0] * at_once

    def lane(i: int) -> None:
        while time.perf_counter() < deadline:
            work()
            counts[i] += 1

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(at_once) as pool:
        list(pool.map(lane, range(at_once)))
    return sum(counts) / (time.perf_counter() - started)


def timed(work, runs: int) -> list[float]:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        walls.append(ms(time.perf_counter() - started))
    return walls


# --- 1. the sandbox alone ---------------------------------------------------------------------------------------
async def sandbox_rows() -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as cache:
        sandbox = await Sandbox("forkserver", compile_cache_dir=cache).start()
        try:
            for name in COMPILED:
                rows[name] = await sandbox_row(sandbox, name, SUM[name], SUM_CASES)
                print(name, {k: round(v, 1) for k, v in rows[name].items()}, flush=True)
            if "c" in COMPILED:  # tests that compute: start-up is no longer all there is
                rows["primes"] = await sandbox_row(sandbox, "c", PRIMES, PRIMES_CASES)
                print("primes", {k: round(v, 1) for k, v in rows["primes"].items()}, flush=True)
        finally:
            await sandbox.close()
    return rows


async def sandbox_row(
    sandbox: Sandbox, name: str, code: str, cases: list[dict]
) -> dict[str, float]:
    bare = Bare(name)
    compile_runs = 3 if name == "java" else 6

    def job(source: str) -> SandboxJob:
        return SandboxJob(code=source, language=name, io_cases=cases, limits=LIMITS)

    async def graded(source: str) -> Any:
        result = await sandbox.run_in_sandbox(job(source))
        assert result.verdict == Verdict.PASSED, (name, result.message, result.tests)
        return result

    compiles = [(await graded(unique(code))).compile["ms"] for _ in range(compile_runs)]
    built = tempfile.mkdtemp(prefix="bench-bare-")
    bare_compiles = timed(lambda: bare.compile(unique(code), built), compile_runs)
    compiled = (bare.compile(code, built), built)
    await graded(code)  # into the compile cache
    warm = []
    for _ in range(WARM_RUNS):
        started = time.perf_counter()
        result = await graded(code)
        warm.append(ms(time.perf_counter() - started))
        assert result.compile["cached"], result.compile
    bare_warm = timed(lambda: bare.grade(code, cases, compiled), WARM_RUNS)

    async def lanes(source) -> float:
        deadline = time.perf_counter() + SECONDS
        done = 0

        async def lane() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await graded(source())
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(AT_ONCE)))
        return done / (time.perf_counter() - started)

    warm_rate = await lanes(lambda: code)
    cold_rate = await lanes(lambda: unique(code))
    loop = asyncio.get_running_loop()
    bare_warm_rate = await loop.run_in_executor(
        None, rate, lambda: bare.grade(code, cases, compiled), AT_ONCE, SECONDS
    )
    bare_cold_rate = await loop.run_in_executor(
        None, rate, lambda: bare.grade(unique(code), cases), AT_ONCE, SECONDS
    )
    return {
        "compile": statistics.median(compiles),
        "bare_compile": statistics.median(bare_compiles),
        "grading": statistics.median(warm),
        "bare_grading": statistics.median(bare_warm),
        "warm_rate": warm_rate,
        "bare_warm_rate": bare_warm_rate,
        "cold_rate": cold_rate,
        "bare_cold_rate": bare_cold_rate,
    }


# --- 2 and 3. the whole platform ---------------------------------------------------------------------------------
def create(stack, teacher: str, name: str, code: str, cases: list[dict]) -> dict:
    with stack.client(teacher) as c:
        created = c.post(
            "/assignments",
            json={
                "title": f"Bench {name} {uuid.uuid4().hex[:6]}",
                "language": name,
                "io_cases": cases,
                "limits": LIMITS,
                "reference_solution": code,
                **({"test_code": ""} if name == "python" else {}),
            },
        )
    assert created.status_code == 201, created.text
    return created.json()


def new_student(stack, name: str, cohort: str) -> str:
    return stack.db(lambda s: add_user(s, name, Role.STUDENT, cohort))[1]


def idle_latencies(stack, student: str, assignment: int, code: str, comment: str) -> list[float]:
    """Submit distinct programs one at a time; each from the POST until the result can be read."""
    latencies = []
    with stack.client(student) as c:
        for _ in range(IDLE_RUNS):
            started = time.perf_counter()
            sub = c.post(
                f"/assignments/{assignment}/submissions", json={"code": unique(code, comment)}
            )
            assert sub.status_code == 202, sub.text
            while (body := c.get(f"/submissions/{sub.json()['id']}").json())[
                "status"
            ] not in FINAL_STATUSES:
                time.sleep(0.005)
            latencies.append(ms(time.perf_counter() - started))
            assert body["verdict"] == Verdict.PASSED, body
    return latencies


def platform_rows() -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
    idle: dict[str, list[float]] = {}
    regrades: dict[str, dict[str, float]] = {}
    with bench_stack(GRADEFLOW_REGRADE_CONCURRENCY=str(AT_ONCE)) as stack:
        log = stack.home / "logs" / "worker.log"
        deadline = time.monotonic() + 180
        while not (log.exists() and "worker ready" in log.read_text()):
            assert time.monotonic() < deadline, "the worker never said it was ready"
            time.sleep(0.2)
        slug = f"bench-languages-{uuid.uuid4().hex[:6]}"
        stack.db(lambda s: add_cohort(s, slug))
        _, teacher = stack.db(lambda s: add_user(s, f"teacher-{slug}", Role.INSTRUCTOR, slug))
        for name in ["python", *COMPILED]:
            # A student per language: the submission rate limit (30 a minute) is per student
            student = new_student(stack, f"student-{name}-{slug}", slug)
            code = PYTHON_SUM if name == "python" else SUM[name]
            assignment = create(stack, teacher, name, code, SUM_CASES)
            comment = "# {}" if name == "python" else "/* {} */"
            idle[name] = idle_latencies(stack, student, assignment["id"], code, comment)
            print(name, "idle p50", round(statistics.median(idle[name])), "ms", flush=True)
        if "c" in COMPILED:
            for label, code, cases in (
                ("Sum", SUM["c"], SUM_CASES),
                ("Primes", PRIMES, PRIMES_CASES),
            ):
                regrades[label] = regrade_row(stack, teacher, label, code, cases)
                print(label, {k: round(v, 1) for k, v in regrades[label].items()}, flush=True)
    return idle, regrades


def regrade_row(stack, teacher: str, label: str, code: str, cases: list[dict]) -> dict[str, float]:
    """REGRADE distinct C submissions in a cohort of their own: a first regrade compiles each (cold cache), the
    second finds every one compiled (warm); beside it, the same binaries run bare with AT_ONCE at once."""
    slug = f"bench-regrade-{label.lower()}-{uuid.uuid4().hex[:6]}"
    assignment = create(stack, teacher, "c", code, cases)
    answers = [
        Answer(code.replace("return 0;", f"return 0; /* {i} */", 1), True, 100.0)
        for i in range(REGRADE)
    ]
    stack.db(lambda s: synthetic_cohort(s, slug, REGRADE, {assignment["id"]: answers}))
    _, instructor = stack.db(lambda s: add_user(s, f"teacher-{slug}", Role.INSTRUCTOR, slug))
    options = {"assignment_id": assignment["id"]}
    cold = regrade(stack, instructor, slug, **options)
    warm = regrade(stack, instructor, slug, **options)
    bare = Bare("c")
    built = tempfile.mkdtemp(prefix="bench-bare-")
    compiled = (bare.compile(code, built), built)
    done = [0]

    def one() -> None:
        bare.grade(code, cases, compiled)
        done[0] += 1

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(AT_ONCE) as pool:
        list(pool.map(lambda _: one(), range(REGRADE)))
    bare_rate = REGRADE / (time.perf_counter() - started)
    return {"cold": cold["rate"], "warm": warm["rate"], "bare": bare_rate}


def targets(rows: dict[str, dict[str, float]]) -> str:
    ratios = {name: r["grading"] / r["bare_grading"] for name, r in rows.items()}
    met = [f"{n} {x:.2f}x" for n, x in ratios.items() if x <= 1.5]
    missed = [f"{n} {x:.2f}x" for n, x in ratios.items() if x > 1.5]
    return f"**met** for {', '.join(met) or 'none'}; **missed** for {', '.join(missed) or 'none'}"


def regrade_targets(rows: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{label} {r['warm'] / r['bare']:.2f}x **{'met' if r['warm'] / r['bare'] >= 0.7 else 'missed'}**"
        for label, r in rows.items()
    )


def main() -> None:
    sandbox = asyncio.run(sandbox_rows())
    idle, regrades = platform_rows()
    lines = []
    for name in [*COMPILED, *(["primes"] if "primes" in sandbox else [])]:
        r = sandbox[name]
        title = (
            "Primes in C (tests that compute)" if name == "primes" else languages.get(name).title
        )
        latencies = idle.get(name)
        lines.append(
            f"| {title} | {r['compile']:.0f} / {r['bare_compile']:.0f} "
            f"| {r['grading']:.1f} / {r['bare_grading']:.1f} (**{r['grading'] / r['bare_grading']:.2f}x**) "
            f"| {r['grading'] / 4:.1f} / {r['bare_grading'] / 4:.1f} "
            f"| {r['warm_rate']:.1f} / {r['bare_warm_rate']:.1f} "
            f"| {r['cold_rate']:.1f} / {r['bare_cold_rate']:.1f} "
            + (
                f"| {statistics.median(latencies):.0f} / {p95(latencies):.0f} |"
                if latencies
                else "| |"
            )
        )
    python_idle = idle["python"]
    regrade_lines = [
        f"| {label} | {r['cold']:.1f} | {r['warm']:.1f} | {r['bare']:.1f} | **{r['warm'] / r['bare']:.2f}x** |"
        for label, r in regrades.items()
    ]
    body = f"""## Languages (issue #22)

Command: `make bench` (`python -m benchmarks.languages`). Machine: {machine()}.
Each cell is GradeFlow / bare: bare is the same compile and run command lines (the language module's) run directly
with `subprocess`, no sandbox, no workflow. Job: the seeded Sum in each language (4 I/O cases, each a millisecond's work: start-up is all there is), and
Primes in C (4 I/O cases of trial division below 200,000 … 350,000: tens of milliseconds each). Sandbox: the
worker's fork server with a compile cache, C and C++ run warm (below). Warm: the program is in the compile cache
(bare: already compiled);
cold: every program distinct (compiled each time). Rates with {AT_ONCE} at once for {SECONDS:g} s. Idle: the whole
platform (API, Temporal, worker), {IDLE_RUNS} distinct programs submitted one at a time (each compiles), submit
until the result reads final, polled every 5 ms.

| language | compile ms | warm grading ms (4 tests; GradeFlow / bare) | per test ms (grading / 4) | gradings/s warm, {AT_ONCE} at once | gradings/s cold, {AT_ONCE} at once | idle submit→result p50 / p95 ms |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(lines)}
| Python 3 (beside them; no compile) | | | | | | {statistics.median(python_idle):.0f} / {p95(python_idle):.0f} |

A regrade of {REGRADE:,} distinct C submissions in one cohort ({AT_ONCE} gradings at once,
`GRADEFLOW_REGRADE_CONCURRENCY={AT_ONCE}`): the first regrade compiles each program (cold), the second finds every
one in the compile cache (warm); bare runs the same binaries' tests with {AT_ONCE} threads. Sum's tests take about a
millisecond each; Primes' (trial division below 200,000 … 350,000) tens of milliseconds.

| program | cold regrade /s | warm regrade /s | bare, {AT_ONCE} at once /s | warm / bare |
| --- | ---: | ---: | ---: | ---: |
{chr(10).join(regrade_lines)}

Targets: a warm-cache grading at most 1.5x the bare run of the same program: {targets(sandbox)}. A warm
regrade of {REGRADE:,} C submissions at least 0.7x the bare rate with {AT_ONCE} at once: {regrade_targets(regrades)}.

Reading it: where a test does real work (the JVM's and Node's start-up, Primes' arithmetic) the sandbox costs
little beside it. A C or C++ program that answers in a millisecond is measured against what isolation costs
whatever the program. Such programs run warm (sandbox/warm.c, since commit e4d5a77): the namespaces, their empty
root and their pid 1 are made once per sandbox server; a grading gets a handler with its own mount namespace,
/work and uid, each case a fresh confined process of that uid (the seccomp filter's load is 0.08 ms of it), and a
program already in the compile cache is graded by the warm judge, without a fork. Before (2026-12-05, commit
a6f9b78), every grading made its own namespaces, root and Python pid 1 and was graded by a judge forked for it:
C 16.1 / 3.6 ms (4.53x), C++ 19.0 / 5.9 ms (3.25x), a warm regrade of Sum 97.8/s (0.24x).

What each grading costs beside its cases (2026-12-06, warm C Sum gradings through the sandbox alone, 4 at once,
1,500 each of 1, 4 and 8 cases, CPU of the whole machine): a case 0.84 ms, a grading's own 1.05-1.11 ms at commit
ee4a41c (the warm judge 0.45, the client 0.2, the handler's fork, mount namespace and their end about 0.35, pid 1
0.07); a case 0.76 ms, a grading 0.72 ms since commit 1161fd1. What changed: a handler is kept for the next
grading once its last has ended and its /work is gone (a grading opened, run one case and closed, against one case
more on an open grading: 0.60-0.77 -> 0.24-0.30 ms of CPU, 1.30-1.40 -> 0.85-0.88 ms of wall); a grading's cases
go to the supervisor in one message, sent right behind the opening, answered in one (the judge's CPU a case
0.09 -> 0.06 ms); the client keeps its connection to the warm judge for the next job; the warm judge keeps the
compile cache entries it has read and verified in memory; a regrade chunk reads the batch's pause flag at most
every 0.2 s, not once a submission.

A warm regrade is bounded besides by the regrade's own work for each submission (reading it, recording its result
and its change of score), which the bare rate does not do. CPU a submission in warm regrades of the same 1,000
Sums in one stack (2026-12-06, 3 regrades each): 5.2-5.6 ms at commit ee4a41c (the cases, handlers and kernel
3.0-3.2, the warm judge 0.8, the worker's own Python 0.6-0.8, Temporal 0.2-0.3; 341-373/s against 566/s bare);
4.2-4.6 ms since commit 1161fd1 (2.5, 0.4-0.6, 0.45-0.5, 0.2; 423-452/s, the first of them, as here, reading each
program from the compile cache's file). A bare grading is about 3.5 ms of CPU (2 cores at the bare rate), so the
ratio also moves with the host: the bare rate moved between 392/s and 615/s from one run of this benchmark to the
next (2026-12-06). Runs of this benchmark the same day: 10:11 (commit 0e4cf07) C 1.77x, C++ 1.56x, a warm regrade
of Sum 301.0/s against 544.5/s bare (0.55x); 12:59 (commit 56336d7: kept handlers, batched cases, the pause flag)
C 1.45x, C++ 1.41x, Sum 401.2/615.5/s (0.65x); 13:12 (commit 1161fd1: the kept connections and the cache in
memory too) C 1.27x, C++ 1.15x, Sum 405.0/562.7/s (0.72x), Primes 0.96x.
"""
    write_section("languages", body)
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
