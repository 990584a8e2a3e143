"""What loading a seccomp filter costs a process: the kernel checks and compiles the filter at each load, and every
confined process loads one (each case of a native grading too). A fresh child loads a profile's filter, timed
around the load itself: the filters as sandbox.confine builds them (the denied calls as runs of numbers) and, for
comparison, with one comparison per denied call, as they were built before. Prints a table; the figures are in
BENCHMARKS.md ("Languages"), too small for a section of their own."""

from __future__ import annotations

import ctypes
import errno
import os
import statistics
import time

from sandbox import confine

RUNS = int(os.environ.get("BENCH_SECCOMP_RUNS", "2000"))


def one_comparison_a_call(profile: str) -> bytes:
    """The same policy with one comparison per denied call (before 2026-12-06)."""
    built = confine.seccomp_program(profile)
    # The architecture checks (6 instructions), then clone3's and clone's (2, and 5 or 6), which end by jumping
    # past themselves: to the final "allow" here
    clone_end = 6 + 2 + (5 if profile == confine.COMPILER else 6)
    prog = [built[: 6 * 8]]
    for nr in sorted(confine.denied_calls(profile)):
        prog += [confine._bpf(0x15, 0, 1, nr), confine._bpf(0x06, 0, 0, 0x00050000 | errno.EPERM)]
    prog += [built[6 * 8 : clone_end * 8], confine._bpf(0x06, 0, 0, 0x7FFF0000)]
    return b"".join(prog)


def load_cost(program: bytes, runs: int) -> float:
    """Median microseconds of the load itself, timed inside a fresh child (a child of a Python process pays for
    touching the parent's pages first: that is done before the clock starts)."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = confine._SockFprog(len(program) // 8, ctypes.addressof(buffer))
    prctl, clock = confine.libc.prctl, time.perf_counter_ns
    times = []
    for _ in range(runs):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            prctl(confine.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            prctl(0, 0, 0, 0, 0)  # warm: the call path, and the pages it touches, before the clock
            started = clock()
            code = prctl(
                confine.PR_SET_SECCOMP, confine.SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0
            )
            took = clock() - started
            os.write(write, str(-1 if code else took).encode())
            os._exit(0)
        os.close(write)
        took = int(os.read(read, 64))
        os.close(read)
        os.waitpid(pid, 0)
        assert took >= 0, "the filter did not load"
        times.append(took / 1000)
    return statistics.median(times)


def main() -> None:
    print("| profile | instructions (runs / one a call) | load us (runs / one a call) |")
    print("| --- | ---: | ---: |")
    for profile in (confine.PYTHON, confine.PROGRAM, confine.COMPILER):
        runs, naive = confine.seccomp_program(profile), one_comparison_a_call(profile)
        costs: dict[str, list[float]] = {"runs": [], "naive": []}
        for _ in range(5):  # interleaved, so a change in the machine's pace hits both alike
            costs["runs"].append(load_cost(runs, RUNS // 5))
            costs["naive"].append(load_cost(naive, RUNS // 5))
        print(
            f"| {profile} | {len(runs) // 8} / {len(naive) // 8} | "
            f"{statistics.median(costs['runs']):.0f} / {statistics.median(costs['naive']):.0f} |"
        )


if __name__ == "__main__":
    main()
