"""The init of a native run: pid 1 of the run's namespaces (trusted code, before any filter), it starts the
compiler or the compiled program under its limits and seccomp profile, waits for it, and tells the judge how it
ended (and, after a compile, hands back the files it produced). The program inherits stdin, stdout and stderr only:
never the channel to the judge.

Nothing here decides a verdict: the judge reads how the program ended and what it printed.
"""

from __future__ import annotations

import base64
import fcntl
import fnmatch
import os
import select
import shutil
import signal
import socket
from dataclasses import dataclass
from typing import Any

from sandbox import confine, inside, wire

SETUP_FAILED = 121
# A compile's products, at most (a bigger binary is a compile error: "the program is too large")
ARTIFACT_BYTES = 16 * 1024 * 1024


@dataclass
class Spec:
    """One native step: what runs (argv, env), in which root (mounts, files), under which limits."""

    argv: list[str]
    env: dict[str, str]
    files: dict[str, bytes]
    mounts: tuple[str, ...]
    limits: dict[str, Any]  # cpu_seconds, wall_seconds, output_kb (file size), memory_mb
    memory_kind: str = "address_space"
    memory_rlimit_mb: int = 0
    profile: str = confine.PROGRAM
    collect: tuple[str, ...] = ()
    work_mb: int = 8
    # Many runs (one per case, descriptors sent by the judge) in one set of namespaces: serve_cases
    per_case: bool = False
    # sandbox/spawn.c, mounted in the root: serve_cases starts each case through it (else it forks)
    spawner: str = ""


def supervise(
    spec: Spec, simulate_missing: str | None = None, unsafe: bool = False
) -> None:  # pragma: no cover - runs inside the sandbox
    """One run: the program on the run's own stdin, stdout and stderr; exits as the program did."""
    channel = socket.socket(fileno=inside.CHANNEL_FD)
    pid = _start(channel, spec, _Prepared(spec, simulate_missing, unsafe))
    wire.send(channel, {"ready": True})
    _, status, _ = os.wait4(pid, 0)
    if spec.collect and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        wire.send(channel, _collect(spec.collect))
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))


def serve_cases(
    spec: Spec, simulate_missing: str | None = None, unsafe: bool = False
) -> None:  # pragma: no cover - runs inside the sandbox
    """Many runs of one program in one set of namespaces (the set-up, which costs ten times a small program's
    run, is paid once per grading): for each case the judge sends the run's stdin, stdout and stderr as
    descriptors; the program runs on them under its limits, its wall-clock limit kept here; the judge is told how
    it ended. /work is put back as it was before the next case. Ends when the judge hangs up."""
    channel = socket.socket(fileno=inside.CHANNEL_FD)
    wall = float(spec.limits["wall_seconds"])
    pristine = _snapshot()
    prepared = _Prepared(spec, simulate_missing, unsafe)
    wire.send(channel, {"ready": True})
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, 1, 3)
        except OSError:
            os._exit(0)
        if message != b"C" or len(fds) != 3:
            os._exit(0)  # the judge hung up (or said something else): the grading is over
        for fd in fds:
            os.set_inheritable(fd, False)  # only as the case's stdin, stdout and stderr
        start = _spawn if prepared.filter_fd is not None else _start
        pid = start(channel, spec, prepared, fds)
        for fd in fds:
            os.close(fd)
        timed_out = _wait_for(pid, wall)
        _, status, usage = os.wait4(pid, 0)
        if _snapshot() != pristine:
            _restore(spec.files)
            pristine = _snapshot()
        wire.send(
            channel,
            {
                "status": status,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "maxrss_kb": usage.ru_maxrss,
                "timed_out": timed_out,
            },
        )


class _Prepared:
    """What every start of the program needs, worked out once: its seccomp filter and the signals Python left
    ignored (an ignored signal stays ignored across exec; a caught one is reset by exec itself)."""

    def __init__(self, spec: Spec, simulate_missing: str | None, unsafe: bool) -> None:
        self.unsafe = unsafe
        self.simulate_missing = simulate_missing
        self.seccomp: confine.SeccompFilter | None = None
        # With the spawner: the filter in a file it reads (at a descriptor no case's own can collide with) and
        # the rlimits as its arguments
        self.filter_fd: int | None = None
        self.spawn_args: list[str] = []
        if spec.spawner and spec.per_case and not unsafe:
            confine.simulated("seccomp", simulate_missing)
            memfd = os.memfd_create("seccomp", os.MFD_CLOEXEC)
            os.write(memfd, confine.seccomp_program(spec.profile))
            self.filter_fd = fcntl.fcntl(memfd, fcntl.F_DUPFD_CLOEXEC, 100)
            os.close(memfd)
            limits = confine.rlimits(spec.limits, spec.memory_kind, spec.memory_rlimit_mb)
            self.spawn_args = [
                spec.spawner,
                *(str(n) for name, (soft, hard) in limits for n in (name, soft, hard)),
                "--",
            ]
        elif not unsafe:
            self.seccomp = confine.SeccompFilter(spec.profile)
        self.ignored = [
            sig
            for sig in signal.valid_signals()
            if sig not in (signal.SIGKILL, signal.SIGSTOP)
            and signal.getsignal(sig) is signal.SIG_IGN
        ]


def _start(
    channel: socket.socket,
    spec: Spec,
    prepared: _Prepared,
    fds: list[int] | None = None,
) -> int:  # pragma: no cover - runs inside the sandbox
    """Fork and exec the program under its limits and seccomp profile (on `fds` as stdin, stdout and stderr
    when given, else on this process's own); a start that fails is reported to the judge and ends the run."""
    failed_r, failed_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(failed_r)
            channel.detach()
            if fds is not None:
                for target, fd in enumerate(fds):
                    os.dup2(fd, target)
            # The program keeps stdin, stdout, stderr and the pipe that tells a failed start: never the channel
            confine.close_fds_except({0, 1, 2, failed_w})
            if not prepared.unsafe:
                confine.drop_capabilities()
            # Python ignores SIGPIPE and SIGXFSZ: the program gets every signal's default (SIGXFSZ ends it at
            # the output limit).
            for sig in prepared.ignored:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            confine.set_limits(spec.limits, spec.memory_kind, spec.memory_rlimit_mb)
            if prepared.seccomp is not None:
                prepared.seccomp.install(prepared.simulate_missing)
            argv = spec.argv
            # Unsafe: no private root, the work directory is where the files are, not /work
            if prepared.unsafe:
                argv = [a.replace(confine.WORK_DIR, os.getcwd(), 1) for a in argv]
            os.execve(argv[0], argv, spec.env)
        except BaseException as exc:  # noqa: BLE001 - whatever stopped the start is the sandbox's to report
            try:
                os.write(failed_w, f"starting {spec.argv[0]} failed: {exc}".encode()[:2000])
            finally:
                os._exit(SETUP_FAILED)
    os.close(failed_w)
    return _started(channel, pid, failed_r)


def _spawn(
    channel: socket.socket, spec: Spec, prepared: _Prepared, fds: list[int]
) -> int:  # pragma: no cover - runs inside the sandbox
    """Start the program through the spawner: posix_spawn (no copy of this process) runs it on `fds`, with the
    filter at descriptor 3 and a close-on-exec pipe at 4 that tells a failed start; it sets the limits, drops
    every capability, installs the filter and execs the program."""
    assert prepared.filter_fd is not None
    failed_r, failed_w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.posix_spawn(
            spec.spawner,
            [*prepared.spawn_args, *spec.argv],
            spec.env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, fds[0], 0),
                (os.POSIX_SPAWN_DUP2, fds[1], 1),
                (os.POSIX_SPAWN_DUP2, fds[2], 2),
                (os.POSIX_SPAWN_DUP2, prepared.filter_fd, 3),
                (os.POSIX_SPAWN_DUP2, failed_w, 4),
            ],
            setsigdef=prepared.ignored,
            setsigmask=[],
        )
    except OSError as exc:
        wire.send(channel, {"setup_error": f"starting {spec.argv[0]} failed: {exc}"})
        os._exit(SETUP_FAILED)
    finally:
        os.close(failed_w)
    return _started(channel, pid, failed_r, "starting ")


def _started(
    channel: socket.socket, pid: int, failed_r: int, prefix: str = ""
) -> int:  # pragma: no cover - runs inside the sandbox
    """The program's pid once its exec closed the failure pipe; a start that failed (the pipe says why) is
    reported to the judge and ends the run."""
    failure = os.read(failed_r, 4096)
    os.close(failed_r)
    if failure:
        os.waitpid(pid, 0)
        wire.send(channel, {"setup_error": prefix + failure.decode("utf-8", "replace")})
        os._exit(SETUP_FAILED)
    return pid


def _wait_for(pid: int, wall: float) -> bool:  # pragma: no cover - runs inside the sandbox
    """Wait up to `wall` seconds for the program to end; kill it when it has not (True: it ran out of time)."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], wall)
    finally:
        os.close(fd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    return not ready


def _snapshot() -> tuple:  # pragma: no cover - runs inside the sandbox
    """What /work holds, in enough detail to see any change a program made to it."""
    here = os.stat(".")
    entries: list[tuple[object, ...]] = [(".", here.st_mode)]
    if (
        here.st_mode & 0o700 != 0o700
    ):  # a program that shut its own /work: restored (no listing needed)
        return tuple(entries)
    for name in sorted(os.listdir(".")):
        st = os.lstat(name)
        entries.append((name, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns))
    return tuple(entries)


def _restore(files: dict[str, bytes]) -> None:  # pragma: no cover - runs inside the sandbox
    """Put /work back as the grading began: a case never sees what an earlier one left."""
    os.chmod(".", 0o755)
    for name in os.listdir("."):
        if os.path.isdir(name) and not os.path.islink(name):
            shutil.rmtree(name, ignore_errors=True)
        else:
            os.unlink(name)
    for name, content in files.items():
        fd = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755 if name == "program" else 0o644
        )
        with os.fdopen(fd, "wb") as f:
            f.write(content)


def _collect(
    patterns: tuple[str, ...],
) -> dict[str, Any]:  # pragma: no cover - runs inside the sandbox
    """The files a compile made (base64), unless together they are over ARTIFACT_BYTES."""
    files: dict[str, str] = {}
    size = 0
    for name in sorted(os.listdir(".")):
        if any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
            with open(name, "rb") as f:
                data = f.read(ARTIFACT_BYTES + 1)
            size += len(data)
            if size > ARTIFACT_BYTES:
                files = {}
                break
            files[name] = base64.b64encode(data).decode()
    return {"files": files, "too_large": size > ARTIFACT_BYTES}
