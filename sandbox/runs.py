"""One confined run: fork a child that confines itself (namespaces, an empty root, its uid, limits, seccomp) and
then runs Python (sandbox.inside) or execs a program (sandbox.supervise), and the judge's handle on it (`Child`).
The judge (Python's unittest and I/O cases) and sandbox.native (compiled languages) both launch runs here.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from gradeflow.priority import session_at_own_nice
from sandbox import confine, inside, wire
from sandbox import supervise as native_exec

HIDDEN_MESSAGE = "hidden test"

SETUP_FAILED = 121
EXCERPT_BYTES = 4096


class SandboxFault(RuntimeError):
    """The sandbox itself failed (set-up, lost child): an infrastructure fault, never the student's doing."""


class NeedsFork(Exception):
    """A persistent judge (the warm judge: sandbox.server) met a job it cannot finish without forking a child (a
    compile, a grading the warm supervisor cannot take): a judge of the fork server's grades it instead."""


@dataclass
class Options:
    mode: str  # "forkserver", "fresh" or "unsafe"
    readable: list[str]
    runs_dir: str
    simulate_missing: str | None = None
    # sandbox.compile_cache.CompileCache: compiled programs, shared by the worker's judges
    cache: Any = None
    # sandbox/spawn.c built (sandbox.spawner): how a native grading's pid 1 starts each case, when there is one
    spawner: str | None = None
    # The warm supervisor's socket (sandbox.warm), when the server has one: compiled C and C++ programs run there
    warm: str | None = None
    # A judge that serves job after job in threads (the warm judge) and so never forks
    persistent: bool = False

    @property
    def unsafe(self) -> bool:
        return self.mode == "unsafe"


@dataclass
class Child:
    pid: int
    sock: socket.socket
    tmpdir: str
    started: float
    deadline: float
    status: int | None = None
    cpu_seconds: float = 0.0  # the run's CPU, when it ended on its own (its monitor waited for it)
    maxrss_kb: int = 0  # its peak resident memory (the largest of the confined processes)

    def excerpt(self, name: str, limit: int = EXCERPT_BYTES) -> str:
        """The start of what the run wrote to `name` (stdout, stderr), at most `limit` bytes."""
        try:
            with open(os.path.join(self.tmpdir, name), "rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            return ""
        text = data[:limit].decode("utf-8", "replace")
        return text + "\n… (truncated)" if len(data) > limit else text

    def read_stdout(self, limit: int) -> bytes:
        with open(os.path.join(self.tmpdir, "stdout"), "rb") as f:
            return f.read(limit)

    def wait(self, timeout: float) -> bool:
        """Wait for the child to exit (not reaping); False on timeout."""
        if self.status is not None:
            return True
        try:
            fd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return True
        try:
            ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
            return bool(ready)
        finally:
            os.close(fd)

    def finish(self, grace: float = 0.5) -> int:
        """End the run: hang up, give it `grace` to exit, then kill; reap it and everything it left behind."""
        if self.status is not None:
            return self.status
        try:
            self.sock.close()
        except OSError:
            pass
        if not self.wait(grace):
            # pid 1 of the run's namespace: everything inside dies with it
            os.kill(self.pid, signal.SIGKILL)
        _, self.status, usage = os.wait4(self.pid, 0)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self.maxrss_kb = usage.ru_maxrss
        reap_orphans()
        return self.status

    def cleanup(self) -> None:
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def reap_orphans() -> None:
    """As child subreaper the judge inherits whatever a run left behind; make sure none of it lives on."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:  # still alive: reaped once the namespace is torn down
            time.sleep(0.001)


def exit_signal(status: int) -> int | None:
    """The signal that ended the sandboxed program: the run's pid 1 died of it, or (a native run) re-reports its
    program's as 128+n."""
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status)
    code = os.WEXITSTATUS(status)
    return code - 128 if 128 < code < 160 else None


def launch(
    job: dict,
    opts: Options,
    children: list[Child],
    mode: str,
    stdin: bytes = b"",
    spec: Any = None,
    wall_seconds: float | None = None,
) -> Child:
    """Fork one confined child; it joins `children` at once so its files are removed whatever happens. Mode
    "exec" runs `spec` (a sandbox.native.Spec: a compiler or a compiled program) instead of Python.
    `wall_seconds`, when given, is the whole run's (several cases), else its limit's."""
    limits = spec.limits if spec is not None else job["limits"]
    tmpdir = tempfile.mkdtemp(prefix="run-", dir=opts.runs_dir)
    with open(os.path.join(tmpdir, "stdin"), "wb") as f:
        f.write(stdin)
    judge_end, sandbox_end = socket.socketpair()
    started = time.monotonic()
    # Unique while this judge lives (the child, pid 1 of its own namespace, has no parent it can name)
    uid = confine.UID_BASE + os.getpid()
    with (
        nullcontext(None) if opts.unsafe else confine.children_in_new_pid_namespace()
    ) as pid_namespace_failure:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            _child(job, opts, mode, tmpdir, sandbox_end, spec, uid, pid_namespace_failure)
    sandbox_end.close()
    wall = float(limits["wall_seconds"]) if wall_seconds is None else wall_seconds
    child = Child(pid, judge_end, tmpdir, started, started + wall)
    children.append(child)
    return child


def _child(
    job: dict,
    opts: Options,
    mode: str,
    tmpdir: str,
    channel: socket.socket,
    spec: Any,
    uid: int,
    pid_namespace_failure: str | None,
) -> None:  # pragma: no cover
    """The confined side: pid 1 of the run's own pid namespace (its judge made it), which confines itself and
    then runs the student's code or, natively, starts the program and reports how it ended. Set-up failures are
    reported on the channel before any student code runs."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        stdin = os.open(os.path.join(tmpdir, "stdin"), os.O_RDONLY)
        stdout = os.open(
            os.path.join(tmpdir, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        stderr = os.open(
            os.path.join(tmpdir, "stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        for fd, target in (
            (stdin, 0),
            (stdout, 1),
            (stderr, 2),
            (channel.fileno(), inside.CHANNEL_FD),
        ):
            os.dup2(fd, target)
        confine.close_fds_except({0, 1, 2, inside.CHANNEL_FD})
        # Its own session and process group: a kill(0) or kill(-pgrp) from inside reaches only the run ...
        os.setsid()
        # ... weighing what the judge weighs (the worker's nice, a regrade's more): the run's processes stay in it
        session_at_own_nice()
        native = spec is not None
        files = spec.files if native else {inside.SOURCE: job["code"].encode()}
        limits = job["limits"]
        if opts.unsafe:
            work = os.path.join(tmpdir, "work")
            os.mkdir(work)
            for name, content in files.items():
                with open(os.path.join(work, name), "wb") as f:
                    f.write(content)
                if name == "program":
                    os.chmod(os.path.join(work, name), 0o755)
            os.chdir(work)
            if native:
                serve = native_exec.serve_cases if spec.per_case else native_exec.supervise
                serve(spec, unsafe=True)
            confine.set_limits(limits)
        else:
            # For the uid map, after the pivot
            proc_self = os.open("/proc/self", os.O_PATH | os.O_DIRECTORY)
            confine.private_mount_namespace(opts.simulate_missing)
            if native:
                confine.build_root(spec.mounts, files, spec.work_mb, owner=uid, executable=True)
            else:
                work_mb = max(1, int(limits["output_kb"]) // 1024 + 4)
                confine.build_root(opts.readable, files, work_mb, owner=uid)
            # (also: it dies with its judge, and the whole namespace with it)
            confine.become_run_user(uid)
            confine.enter_namespaces(uid, proc_self, opts.simulate_missing, pid_namespace_failure)
            os.close(proc_self)
            if native:  # pid 1 starts the program and reports how it ended; never returns
                serve = native_exec.serve_cases if spec.per_case else native_exec.supervise
                serve(spec, simulate_missing=opts.simulate_missing)
            confine.drop_capabilities()
            confine.set_limits(limits)
            confine.install_seccomp(opts.simulate_missing)
    except BaseException as exc:  # noqa: BLE001 - whatever stopped confinement is reported, then exit
        try:
            wire.send(
                socket.socket(fileno=inside.CHANNEL_FD),
                {"setup_error": str(exc) or type(exc).__name__},
            )
        finally:
            os._exit(SETUP_FAILED)
    try:
        inside.run(mode)
    except SystemExit as exc:
        _flush()
        os._exit(exc.code if isinstance(exc.code, int) and 0 <= exc.code < 128 else 1)
    except BaseException:  # noqa: BLE001 - the judge's child never unwinds into the monitor's code
        _flush()
        os._exit(1)
    _flush()
    os._exit(0)


def _flush() -> None:  # pragma: no cover
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a closed stream at exit is no error
            pass


def await_ready(child: Child) -> None:
    try:
        first = wire.recv(child.sock, child.deadline + 5)
    except (EOFError, wire.Timeout, wire.ProtocolError, OSError) as exc:
        status = child.finish(0)
        raise SandboxFault(
            f"the sandbox ended during set-up ({type(exc).__name__}, status {status})"
        ) from None
    if "setup_error" in first:
        child.finish(0)
        raise SandboxFault(f"sandbox set-up failed: {first['setup_error']}")
    if first != {"ready": True}:
        child.finish(0)
        raise SandboxFault("the sandbox sent something other than ready during set-up")


def normalise(text: str) -> str:
    """Output comparison ignores trailing whitespace on each line and trailing blank lines."""
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())
