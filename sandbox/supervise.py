"""The init of a native run: pid 1 of the run's namespaces (trusted code, before any filter), it starts the
compiler or the compiled program under its limits and seccomp profile, waits for it, and tells the judge how it
ended (and, after a compile, hands back the files it produced). The program inherits stdin, stdout and stderr only:
never the channel to the judge.

Nothing here decides a verdict: the judge reads how the program ended and what it printed.
"""

from __future__ import annotations

import base64
import fnmatch
import os
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


def supervise(
    spec: Spec, simulate_missing: str | None = None, unsafe: bool = False
) -> None:  # pragma: no cover - runs inside the sandbox
    channel = socket.socket(fileno=inside.CHANNEL_FD)
    failed_r, failed_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(failed_r)
            channel.detach()
            os.close(inside.CHANNEL_FD)
            if not unsafe:
                confine.drop_capabilities()
            # Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across exec: the program
            # gets every signal's default (SIGXFSZ ends it at the output limit).
            for sig in signal.valid_signals():
                if sig not in (signal.SIGKILL, signal.SIGSTOP):
                    try:
                        signal.signal(sig, signal.SIG_DFL)
                    except (OSError, ValueError):  # signals the runtime reserves
                        pass
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            confine.set_limits(spec.limits, spec.memory_kind, spec.memory_rlimit_mb)
            if not unsafe:
                confine.install_seccomp(simulate_missing, spec.profile)
            argv = spec.argv
            if unsafe:  # no private root: the work directory is where the files are, not /work
                argv = [a.replace(confine.WORK_DIR, os.getcwd(), 1) for a in argv]
            os.execve(argv[0], argv, spec.env)
        except BaseException as exc:  # noqa: BLE001 - whatever stopped the start is the sandbox's to report
            try:
                os.write(failed_w, f"starting {spec.argv[0]} failed: {exc}".encode()[:2000])
            finally:
                os._exit(SETUP_FAILED)
    os.close(failed_w)
    failure = os.read(failed_r, 4096)
    os.close(failed_r)
    if failure:
        os.waitpid(pid, 0)
        wire.send(channel, {"setup_error": failure.decode("utf-8", "replace")})
        os._exit(SETUP_FAILED)
    wire.send(channel, {"ready": True})
    _, status, _ = os.wait4(pid, 0)
    if spec.collect and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        files: dict[str, str] = {}
        size = 0
        for name in sorted(os.listdir(".")):
            if any(fnmatch.fnmatch(name, pattern) for pattern in spec.collect):
                with open(name, "rb") as f:
                    data = f.read(ARTIFACT_BYTES + 1)
                size += len(data)
                if size > ARTIFACT_BYTES:
                    files = {}
                    break
                files[name] = base64.b64encode(data).decode()
        wire.send(channel, {"files": files, "too_large": size > ARTIFACT_BYTES})
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
