"""Warm native runs: one set of namespaces per sandbox server, kept for its life, whose pid 1 (sandbox/warm.c) runs
the cases of every grading of an already compiled C or C++ program (issue #22).

A native grading's own namespaces, empty root and Python pid 1 cost about ten times a millisecond program's run
(BENCHMARKS.md, "Languages"). Here they are made once, when the server starts (`start`); each grading is then a
connection to the supervisor (`Grading`), which gives it a handler with its own mount namespace, its own /work and
its own uid (a handler kept from an earlier grading once that one has ended and its /work is gone), and starts each
case as a confined process of that uid (warm.c says what each step stops). Gradings
served at once share the pid, network, ipc and uts namespaces, and what that would let them share is shut: no
/proc, no network interface, no signal or trace across uids without capabilities, no SysV IPC or POSIX message
queue (the program profile's filter), no process outliving its case.

Optional, like the spawner: without a C compiler, without root (the uid range needs a privileged uid map) or when
the supervisor cannot be reached (ended, or as many gradings at once as it has uids), a grading is served the
usual way, in namespaces of its own.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import socket
import struct
import sys
from pathlib import Path
from typing import Any

from gradeflow.priority import session_at_own_nice
from sandbox import confine, spawner

SOURCE = Path(__file__).with_name("warm.c")
FLAGS = ["-O2", "-Wall", "-Werror", "-static"]
SOCKET_NAME = "warm.sock"
# Gradings served at once (each holds one uid while it lives); a grading beyond goes the usual way
SLOTS = 64
# Outside uids of the warm namespaces: root inside, then one per grading served at once. Far above the per-run uids
# (sandbox.confine.UID_BASE + a judge's pid) and apart for each server on the machine.
UID_BASE = 1_500_000_000
OPENING = struct.Struct("<IiIIII")  # work_kb, nice, wall_ms, n_limits, n_argv, n_env
ENDED = struct.Struct("<iIQQ")  # status, timed_out, cpu_us, maxrss_kb
# A case's answer: ENDED, then why it could not start (NUL-padded); warm.c's struct report
REPORT_BYTES = ENDED.size + 400
# Cases a message at most (warm.c's MAX_BATCH: three descriptors each)
BATCH = 64
OPEN_SECONDS = 10


class Unavailable(Exception):
    """The warm supervisor cannot take this grading: it is served the usual way."""


def build(directory: str) -> str | None:
    return spawner.build_c(directory, SOURCE, FLAGS, "gradeflow-warm")


def outside_root(server_pid: int) -> int:
    return UID_BASE + (server_pid % 1_000_000) * (SLOTS + 1)


def supervisor_uid(uid: int) -> bool:
    """Whether an outside uid is a warm supervisor's own (root inside: pid 1 and its handlers), not a case's."""
    return uid >= UID_BASE and (uid - UID_BASE) % (SLOTS + 1) == 0


def start(runs_dir: str, binary: str, readable: list[str]) -> str:
    """Make the warm namespaces and start their pid 1 (as root, before any judge is forked): the path of the
    socket gradings connect to. Raises OSError or confine.IsolationError saying why it could not."""
    path = os.path.join(runs_dir, SOCKET_NAME)
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    old_umask = os.umask(0o077)
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(SLOTS)
    seccomp = os.memfd_create("seccomp", os.MFD_CLOEXEC)
    os.write(seccomp, confine.seccomp_program(confine.PROGRAM))
    unshared_r, unshared_w = os.pipe2(os.O_CLOEXEC)
    mapped_r, mapped_w = os.pipe2(os.O_CLOEXEC)
    started_r, started_w = os.pipe2(os.O_CLOEXEC)
    root = outside_root(os.getpid())
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the namespaces' maker
        try:
            for fd in (unshared_r, mapped_w, started_r):
                os.close(fd)
            _make(binary, readable, listener.fileno(), seccomp, unshared_w, mapped_r, started_w)
        except BaseException as exc:  # noqa: BLE001 - a forked child must exit, never return to the server
            try:
                os.write(started_w, f"{type(exc).__name__}: {exc}".encode()[:2000])
            finally:
                os._exit(1)
    for fd in (unshared_w, mapped_r, started_w, seccomp):
        os.close(fd)
    listener.close()  # the supervisor holds it: once it ends, a connection is refused
    try:
        if os.read(unshared_r, 1) != b"u":
            raise OSError(f"the warm namespaces could not be made: {_said(started_r)}")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(f"0 {root} 1\n1 {root + 1} {SLOTS}\n")
        os.write(mapped_w, b"m")
        failure = _said(started_r)
        if failure:
            raise OSError(f"the warm supervisor did not start: {failure}")
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        for fd in (unshared_r, mapped_w, started_r):
            os.close(fd)
    return path


def _said(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _make(
    binary: str,
    readable: list[str],
    listener: int,
    seccomp: int,
    unshared_w: int,
    mapped_r: int,
    started_w: int,
) -> None:  # pragma: no cover - runs in the maker, a child of the server
    """The maker: a session weighing the server's nice, the empty root, new namespaces; once the server has
    written the uid map, root inside; then pid 1 of the new pid namespace execs the supervisor."""
    confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    session_at_own_nice()  # every case of every grading weighs as this one session, at the server's nice
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    confine.private_mount_namespace()
    confine.build_root([*readable, binary], {}, 1, owner=0, executable=True)
    if confine.libc.unshare(sum(confine.NAMESPACES.values())) != 0:
        err = ctypes.get_errno()
        raise confine.IsolationError(f"unshare of the warm namespaces failed: {os.strerror(err)}")
    os.write(unshared_w, b"u")
    if os.read(mapped_r, 1) != b"m":
        os._exit(1)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)  # root inside (which clears the death signal: set again)
    confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
    init = os.fork()  # pid 1 of the new pid namespace
    if init == 0:
        confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
        # Out of the way first (a source may sit at another's target), then where the supervisor expects them;
        # stderr stays the server's: the supervisor's own complaints are the operator's
        high = [
            fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            for fd in (null, null, listener, seccomp, started_w)
        ]
        for fd, target in zip(high, (0, 1, 3, 4, 5), strict=True):
            os.dup2(fd, target)
        os.set_inheritable(
            5, False
        )  # closes when the exec succeeds: the server's sign that it started
        confine.close_fds_except({0, 1, 2, 3, 4, 5})
        os.execve(binary, ["gradeflow-warm", str(SLOTS)], {})
    os.close(started_w)
    _, status = os.waitpid(init, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


class Grading:
    """One grading's connection to the warm supervisor: its program, environment, files and limits given once,
    then its cases, a batch of them at a time (`run`). The opening is answered with the first batch: it is sent
    ahead, and the supervisor's answer to it read when the cases' are (a round trip less a grading)."""

    def __init__(
        self,
        path: str,
        argv: list[str],
        env: dict[str, str],
        files: dict[str, bytes],
        rlimits: list[tuple[int, tuple[int, int]]],
        wall_seconds: float,
        work_kb: int,
        nice: int,
    ) -> None:
        self.wall_seconds = wall_seconds
        self.ready = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(OPEN_SECONDS)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise Unavailable(f"the warm supervisor cannot be reached ({exc})") from None
        archive = os.memfd_create("files", os.MFD_CLOEXEC)
        try:
            for name, data in files.items():
                os.write(archive, name.encode() + b"\0" + struct.pack("<Q", len(data)) + data)
            body = OPENING.pack(
                work_kb,
                nice,
                int(wall_seconds * 1000),
                len(rlimits),
                len(argv),
                len(env),
            )
            body += b"".join(
                struct.pack("<QQQ", resource, soft % 2**64, hard % 2**64)
                for resource, (soft, hard) in rlimits
            )
            body += b"".join(
                s.encode() + b"\0" for s in [*argv, *(f"{k}={v}" for k, v in env.items())]
            )
            socket.send_fds(self.sock, [b"O" + body], [archive])
        except OSError as exc:
            self.close()
            raise Unavailable(f"the warm supervisor did not take the grading ({exc})") from None
        finally:
            os.close(archive)

    def _opened(self) -> None:
        """Read the answer to the opening: Unavailable unless the supervisor took the grading."""
        try:
            self.sock.settimeout(OPEN_SECONDS)
            reply = self.sock.recv(1024)
        except OSError as exc:
            raise Unavailable(f"the warm supervisor did not take the grading ({exc})") from None
        if reply != b"R":
            why = reply[1:].decode("utf-8", "replace") if reply else "it ended"
            raise Unavailable(f"the warm supervisor did not take the grading: {why}")
        self.ready = True

    def run(self, cases: list[list[int]]) -> list[dict[str, Any]]:
        """Up to BATCH cases, each on its descriptors (stdin, stdout, stderr), one after the other: how each ended,
        as sandbox.supervise.serve_cases says it. Unavailable only before any case ran (the grading was not
        taken); ConnectionError when the supervisor stopped answering."""
        assert 0 < len(cases) <= BATCH
        unsent: OSError | None = None
        try:
            socket.send_fds(self.sock, [b"C"], [fd for fds in cases for fd in fds])
        except OSError as exc:
            unsent = exc
        if not self.ready:
            self._opened()  # Unavailable, and why, when the grading was not taken
        if unsent is not None:
            raise ConnectionError(f"the warm supervisor stopped answering ({unsent})") from None
        try:
            self.sock.settimeout(len(cases) * (self.wall_seconds + 1) + 5)
            reply = self.sock.recv(len(cases) * REPORT_BYTES)
        except OSError as exc:
            raise ConnectionError(f"the warm supervisor stopped answering ({exc})") from None
        answered = []
        for at in range(0, len(reply) - REPORT_BYTES + 1, REPORT_BYTES):
            status, timed_out, cpu_us, maxrss_kb = ENDED.unpack_from(reply, at)
            ended: dict[str, Any] = {
                "status": status,
                "cpu_seconds": cpu_us / 1e6,
                "maxrss_kb": maxrss_kb,
                "timed_out": bool(timed_out),
            }
            error = reply[at + ENDED.size : at + REPORT_BYTES].split(b"\0", 1)[0]
            if error:
                ended["setup_error"] = error.decode("utf-8", "replace")
            answered.append(ended)
        # Fewer answers than cases: the supervisor put /work back and could not (the last answer says so)
        if len(answered) < len(cases) and not (answered and "setup_error" in answered[-1]):
            raise ConnectionError("the warm supervisor ended during a case")
        return answered

    def close(self) -> None:
        self.sock.close()


def readable_for(toolchains: list[Any]) -> list[str]:
    """The warm root's read-only directories: every served toolchain's run mounts, once."""
    seen: dict[str, None] = {}
    for toolchain in toolchains:
        for path in toolchain.run_mounts:
            seen.setdefault(path, None)
    return list(seen)


def log(text: str) -> None:
    print(f"sandbox: {text}", file=sys.stderr, flush=True)
