"""The sandbox's process: a warm, secret-free fork server, or a fresh interpreter that grades one job.

Started by the worker with an empty environment and no inherited descriptors. The fork server accepts jobs on a
root-only Unix socket and forks one judge per job (milliseconds: everything is already imported); `--once`
reads one job from stdin (a socket) in a fresh interpreter, the fallback. Beside it, where the machine allows, the
warm supervisor (sandbox.warm) and the warm judge (`start_warm_judge`) grade compiled C and C++ programs without
a fork or namespaces of their own per grading.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import select
import signal
import socket
import sys
import time
import unittest  # noqa: F401 - warm: imported once here, inherited by every judge
from concurrent.futures import ThreadPoolExecutor

from gradeflow import languages
from sandbox import confine, inside, judge, runs, spawner, warm, wire  # noqa: F401 - warm, as above
from sandbox.compile_cache import CompileCache

JOB_READ_SECONDS = 10
# A connection to the warm judge waits this long for its next job, then is closed (the client keeps a few open)
WARM_IDLE_SECONDS = 5
# The compile cache entries the warm judge keeps in memory (a C program's is about 16 KiB)
WARM_CACHE_BYTES = 64 * 2**20


def handle(conn: socket.socket, opts: judge.Options) -> None:
    """One job, in a judge process of its own: read it, grade it, answer, exit."""
    confine.become_subreaper()
    job = wire.recv(conn, time.monotonic() + JOB_READ_SECONDS, limit=4 * wire.MAX_FRAME)
    n_runs = 1 + len(job.get("io_cases") or []) + len(job.get("function_tests") or [])
    nice = int(job.get("nice") or 0)
    if 0 < nice <= 19:
        os.nice(nice)  # this judge and its runs only
    # Backstop: a judge never outlives its job, whatever happens.
    # (a slow runtime's time factor and the compile step included)
    signal.alarm(int(n_runs * (3 * float(job["limits"]["wall_seconds"]) + 2)) + 140)
    opts = judge.Options(
        mode=opts.mode,
        readable=opts.readable,
        runs_dir=opts.runs_dir,
        simulate_missing=job.get("simulate_missing"),
        cache=opts.cache,
        spawner=opts.spawner,
        warm=opts.warm,
    )
    try:
        result = judge.run_job(job, opts)
    except Exception as exc:  # noqa: BLE001 - any judge failure is an infrastructure fault, retried upstream
        result = {"sandbox_error": f"the judge failed: {type(exc).__name__}: {exc}"}
    wire.send(conn, result)


def start_warm_judge(path: str, opts: judge.Options) -> None:
    """Fork the warm judge (before the server has any thread): a persistent judge that grades, in a thread per
    connection (a client's connection is kept for its next jobs) and without forking anything, the jobs whose program is in the compile cache and whose cases the warm
    supervisor runs (sandbox.warm). A judge forked per job costs several times such a grading (the fork of this
    process and what it copies on write: BENCHMARKS.md, "Languages"). Whatever it cannot finish without a fork
    (a compile, the supervisor busy) it answers "cold", and the client sends the job here, to the fork server."""
    pid = os.fork()
    if pid:
        return
    try:  # pragma: no cover - the warm judge, a child of the server
        confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o077)
        listener.bind(path)
        os.umask(old_umask)
        listener.listen(256)
        persistent = dataclasses.replace(opts, persistent=True)
        if opts.cache is not None:  # its hits are most of its jobs: kept read and verified
            opts.cache.remember(WARM_CACHE_BYTES)
        # A thread a connection: those grading (at most one a supervisor slot) and those kept open between jobs
        with ThreadPoolExecutor(max_workers=2 * warm.SLOTS, thread_name_prefix="judge") as pool:
            while True:
                conn, _ = listener.accept()
                pool.submit(handle_warm, conn, persistent)
    finally:
        os._exit(1)


def handle_warm(
    conn: socket.socket, opts: judge.Options
) -> None:  # pragma: no cover - in the warm judge
    """The jobs of one connection in the warm judge, one after the other: each graded here if it can be without a
    fork, else answered "cold". The connection is closed once idle for WARM_IDLE_SECONDS."""
    with conn:
        waiting = select.poll()
        waiting.register(conn, select.POLLIN)
        while True:
            try:
                job = wire.recv(conn, time.monotonic() + JOB_READ_SECONDS, limit=4 * wire.MAX_FRAME)
            except (EOFError, OSError, wire.Timeout, wire.ProtocolError):
                return
            try:
                wire.send(conn, warm_result(job, opts))
            except OSError:  # the client gave up on the job
                return
            if not waiting.poll(WARM_IDLE_SECONDS * 1000):
                return


def warm_result(job: dict, opts: judge.Options) -> dict:  # pragma: no cover - in the warm judge
    name = job.get("language") or "python"
    if (
        name not in languages.NAMES
        or not languages.get(name).warm_runs
        or job.get("simulate_missing")
    ):
        return {"cold": True}
    try:
        return {**judge.run_job(job, opts), "judge": "warm"}
    except runs.NeedsFork:
        return {"cold": True}
    except Exception as exc:  # noqa: BLE001 - as in handle: an infrastructure fault, retried upstream
        return {"sandbox_error": f"the judge failed: {type(exc).__name__}: {exc}"}


def serve_forever(path: str, opts: judge.Options) -> None:
    # Die with the worker
    confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGTERM, "prctl(PR_SET_PDEATHSIG)")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # judges are reaped automatically
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)
    listener.bind(path)
    os.umask(old_umask)
    listener.listen(256)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        pid = os.fork()
        if pid == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            code = 0
            try:
                handle(conn, opts)
            except BaseException:  # noqa: BLE001 - a forked handler must exit, never return to the loop
                code = 1
            finally:
                os._exit(code)
        conn.close()


def start_warm(runs_dir: str) -> str | None:
    """The warm supervisor for the languages that use it and this machine has (sandbox.warm), or None: their
    gradings are then served in namespaces of their own, as every other language's."""
    toolchains = []
    for name in languages.available():
        if languages.get(name).warm_runs:
            toolchains.append(languages.toolchain(name))
    if not toolchains:
        return None
    binary = warm.build(runs_dir)
    if binary is None:
        warm.log(
            "no warm supervisor (sandbox/warm.c did not build): native gradings set up their own sandbox"
        )
        return None
    try:
        path = warm.start(runs_dir, binary, warm.readable_for(toolchains))
    except (OSError, confine.IsolationError) as exc:
        warm.log(f"no warm supervisor ({exc}): native gradings set up their own sandbox")
        return None
    names = ", ".join(t.language for t in toolchains)
    warm.log(
        f"warm native runs for {names}: namespaces made once, a uid and /work for each grading"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", help="serve jobs on this Unix socket (fork server)")
    parser.add_argument(
        "--once", action="store_true", help="grade one job from stdin (fresh interpreter)"
    )
    parser.add_argument("--unsafe", action="store_true", help="no isolation: development only")
    parser.add_argument("--runs-dir", required=True, help="a private directory for the runs' files")
    parser.add_argument(
        "--cache-dir", help="the compile cache's directory (none: every compile runs)"
    )
    parser.add_argument("--cache-mb", type=int, default=512, help="the compile cache's bound, MiB")
    parser.add_argument(
        "--no-spawner",
        action="store_true",
        help="native gradings' pid 1 forks each case (no sandbox/spawn.c, as without a C compiler)",
    )
    parser.add_argument(
        "--warm-socket",
        help="serve warm native jobs on this Unix socket (the warm judge; with a warm supervisor only)",
    )
    parser.add_argument(
        "--no-warm",
        action="store_true",
        help="every native grading in namespaces of its own (no warm supervisor: sandbox/warm.py)",
    )
    args = parser.parse_args()
    # Started with env={}; Python's own locale coercion may add LC_CTYPE, nothing else may be there.
    if set(os.environ) - {"LC_CTYPE"}:
        sys.exit(
            f"the sandbox server must start with an empty environment, not {sorted(os.environ)}"
        )
    os.environ.clear()
    mode = "unsafe" if args.unsafe else ("fresh" if args.once else "forkserver")
    opts = judge.Options(
        mode=mode,
        readable=[] if args.unsafe else confine.interpreter_paths(),
        runs_dir=args.runs_dir,
        cache=CompileCache(args.cache_dir, args.cache_mb * 2**20) if args.cache_dir else None,
    )
    if not args.once:  # the fork server looks every toolchain up once, and every judge inherits it
        languages.available()
        if not (args.unsafe or args.no_spawner):
            opts.spawner = spawner.build(args.runs_dir)
        if not (args.unsafe or args.no_spawner or args.no_warm):
            opts.warm = start_warm(args.runs_dir)
    if opts.warm and args.warm_socket:
        start_warm_judge(args.warm_socket, opts)
    if args.once:
        conn = socket.socket(fileno=0)
        handle(conn, opts)
    else:
        serve_forever(args.socket, opts)


if __name__ == "__main__":
    main()
