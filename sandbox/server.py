"""The sandbox's process: a warm, secret-free fork server, or a fresh interpreter that grades one job.

Started by the worker with an empty environment and no inherited descriptors. The fork server accepts jobs on a
root-only Unix socket and forks one judge per job (milliseconds: everything is already imported); `--once`
reads one job from stdin (a socket) in a fresh interpreter, the fallback.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
import unittest  # noqa: F401 - warm: imported once here, inherited by every judge

from gradeflow import languages
from sandbox import confine, inside, judge, spawner, wire  # noqa: F401 - warm, as above
from sandbox.compile_cache import CompileCache

JOB_READ_SECONDS = 10


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
    )
    try:
        result = judge.run_job(job, opts)
    except Exception as exc:  # noqa: BLE001 - any judge failure is an infrastructure fault, retried upstream
        result = {"sandbox_error": f"the judge failed: {type(exc).__name__}: {exc}"}
    wire.send(conn, result)


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
    if args.once:
        conn = socket.socket(fileno=0)
        handle(conn, opts)
    else:
        serve_forever(args.socket, opts)


if __name__ == "__main__":
    main()
