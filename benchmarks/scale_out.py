"""Adding a worker adds grading capacity when grading is the bottleneck (issue #14).

On a 2-core machine the CPU, not the number of workers, caps CPU-bound grading, so this benchmark makes grading the
bottleneck the way a slow judge does: each worker runs one sandbox at a time (GRADEFLOW_GRADING_CONCURRENCY=1) and
each submission spends BENCH_SCALE_SLEEP seconds waiting (time.sleep in the student's code), not computing. The same
burst is drained by one worker, then by two (the second started beside the first, same Temporal, same intake
stream)."""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from benchmarks.report import machine, write_section
from benchmarks.stack import bench_stack
from gradeflow.launch.embedded import free_port
from gradeflow.launch.roles import RoleProcess, Stack, role_argv
from gradeflow.launch.synthetic import synthetic_students

SUBMISSIONS = int(os.environ.get("BENCH_SCALE_SUBMISSIONS", "60"))
SLEEP = float(os.environ.get("BENCH_SCALE_SLEEP", "0.25"))


def drain(stack: Stack, label: str) -> float:
    """SUBMISSIONS new students submit at once; seconds until the last result is in."""
    slug = f"scale-{label}-{uuid.uuid4().hex[:6]}"
    students = stack.db(lambda s: synthetic_students(s, slug, SUBMISSIONS))
    code = "import time\ntime.sleep({sleep})\n# {tag}\ndef hello():\n    return 'Hello'\n"

    def one(token: str) -> str:
        with stack.client(token) as c:
            r = c.post(
                "/assignments/1/submissions",
                json={"code": code.format(sleep=SLEEP, tag=uuid.uuid4())},
            )
            assert r.status_code == 202, r.text
            return r.json()["id"]

    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(one, [t for _, t in students]))
    for (_, token), sid in zip(students, ids, strict=True):
        stack.wait_graded(token, sid, timeout=600)
    return time.monotonic() - start


def main() -> None:
    with bench_stack(GRADEFLOW_GRADING_CONCURRENCY="1") as stack:
        one = drain(stack, "one")
        print(f"one worker: {SUBMISSIONS} in {one:.1f} s", flush=True)
        env = {
            **stack.env,
            "GRADEFLOW_GRADING_CONCURRENCY": "1",
            "GRADEFLOW_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        }
        second = RoleProcess(role_argv("worker"), env, stack.home / "logs" / "worker-2.log")
        second.start()
        try:
            deadline = time.monotonic() + 60
            log = stack.home / "logs" / "worker-2.log"
            while "worker ready" not in (log.read_text() if log.exists() else ""):
                assert time.monotonic() < deadline and second.exited() is None, second.exited()
                time.sleep(0.2)
            two = drain(stack, "two")
        finally:
            second.stop()
        print(f"two workers: {SUBMISSIONS} in {two:.1f} s", flush=True)
    gain = one / two
    body = f"""
## Scale-out: a second worker (issue #14)

Command: `make bench` (`python -m benchmarks.scale_out`; `BENCH_SCALE_SUBMISSIONS`, `BENCH_SCALE_SLEEP`). A whole
stack started by the benchmark, each worker limited to one sandbox at a time (`GRADEFLOW_GRADING_CONCURRENCY=1`)
so that grading, not the 2-core CPU, is the bottleneck; every submission waits {SLEEP:g} s in the student's code
(as a slow judge would). {SUBMISSIONS} students submit at once, drained by one worker; then {SUBMISSIONS} more, with
a second `gradeflow worker` process started beside the first (same Temporal, same intake stream).
Machine: {machine()}.

| workers | {SUBMISSIONS} submissions graded in | gradings/s |
| ---: | ---: | ---: |
| 1 | {one:.1f} s | {SUBMISSIONS / one:.2f} |
| 2 | {two:.1f} s | {SUBMISSIONS / two:.2f} |

The second worker multiplied the grading capacity by {gain:.2f} (2.00 would be perfect).
"""
    write_section("scale-out", body)


if __name__ == "__main__":
    main()
