"""How close any sandbox can come to a bare run of a millisecond C program on this machine (issue #22's 1.5x).

The production sandbox sets up namespaces, an empty root and a Python pid 1 for every grading
(BENCHMARKS.md, "Languages"). This measures the other design, the fastest one could build: one set of namespaces
kept warm by a small C supervisor (benchmarks/native_floor.c, pid 1 of them), which starts each case with its own
uid, optionally in a private mount namespace with a fresh /work and under the seccomp filter, driven from Python
over a socket as the judge would. Four ways to run the seeded Sum's 4 I/O cases, interleaved in rounds of 200
gradings each, medians:

- bare: each case with `subprocess.run`, as benchmarks.languages runs "bare";
- warm namespaces, each case with its own uid, private /work and seccomp filter (what SANDBOX.md asks of a run);
- the same without the private /work (a directory per grading instead);
- the same without the private /work and without the filter: the supervisor alone, the floor of the design;
- and the production sandbox (the fork server, a compile cache), for reference.

A measurement, not part of the grader: it needs root, user namespaces and a C compiler; `python -m
benchmarks.native_floor`.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import statistics
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.languages import LIMITS, SUM, SUM_CASES
from gradeflow import languages
from gradeflow.vocabulary import Verdict
from sandbox import Sandbox, SandboxJob, confine

SOURCE = Path(__file__).with_name("native_floor.c")
GRADINGS = int(os.environ.get("BENCH_FLOOR_GRADINGS", "200"))
ROUNDS = int(os.environ.get("BENCH_FLOOR_ROUNDS", "3"))
# Outside uids of the warm namespaces: root inside, then one per case (far from the per-run uids of sandbox.confine)
INSIDE_ROOT, FIRST_UID, UIDS = 300_000_000, 300_000_001, 65_535
NO_WORK, NO_FILTER = 1, 2
REPLY = struct.Struct("<IiQQ")


class Supervisor:
    """The warm namespaces and their pid 1; `run` starts one case and waits for it."""

    def __init__(self, readable: list[str], binary: str) -> None:
        self.sock, self.pid = self._start(readable, binary)
        self.next_id = 0
        self.limits = confine.rlimits(LIMITS)

    @staticmethod
    def _start(readable: list[str], binary: str) -> tuple[socket.socket, int]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        seccomp = os.memfd_create("seccomp", 0)
        os.write(seccomp, confine.seccomp_program(confine.PROGRAM))
        unshared_r, unshared_w = os.pipe()
        mapped_r, mapped_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the namespaces' maker
            try:
                ours.close()
                os.close(unshared_r)
                os.close(mapped_w)
                confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
                confine.private_mount_namespace()
                confine.build_root([*readable, binary], {}, 1, owner=0, executable=True)
                flags = sum(confine.NAMESPACES.values())
                if confine.libc.unshare(flags) != 0:
                    raise OSError(ctypes.get_errno(), "unshare")
                os.write(unshared_w, b"u")
                if os.read(mapped_r, 1) != b"m":
                    os._exit(1)
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)  # root inside (clears the death signal: set again)
                confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
                init = os.fork()  # pid 1 of the new pid namespace
                if init == 0:
                    confine.prctl(
                        confine.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)"
                    )
                    os.dup2(theirs.fileno(), 3)
                    os.dup2(seccomp, 4)
                    confine.close_fds_except({0, 1, 2, 3, 4})
                    os.execve(binary, ["native-floor"], {})
                _, status = os.waitpid(init, 0)
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
            except BaseException as exc:  # noqa: BLE001 - a forked child must exit, never return
                os.write(2, f"the supervisor's namespaces failed: {exc}\n".encode())
                os._exit(1)
        os.close(unshared_w)
        os.close(mapped_r)
        if os.read(unshared_r, 1) != b"u":
            raise RuntimeError("the supervisor's namespaces could not be made (see stderr)")
        for name in ("uid_map", "gid_map"):
            Path(f"/proc/{pid}/{name}").write_text(f"0 {INSIDE_ROOT} 1\n1 {FIRST_UID} {UIDS}\n")
        os.write(mapped_w, b"m")
        for fd in (unshared_r, mapped_w, seccomp):
            os.close(fd)
        theirs.close()
        return ours, pid

    def run(self, argv: list[str], files: int, fds: list[int], skip: int) -> tuple[int, str]:
        self.next_id += 1  # one case at a time
        case, limits = self.next_id, self.limits
        body = struct.pack("<8I", case, 1 + case % UIDS, 4096, len(limits), len(argv), 0, 1, skip)
        body += b"".join(
            struct.pack("<QQQ", resource, soft % 2**64, hard % 2**64)
            for resource, (soft, hard) in limits
        )
        body += b"".join(arg.encode() + b"\0" for arg in argv)
        socket.send_fds(self.sock, [b"R" + body], [*fds, files])
        reply = self.sock.recv(1024)
        got, status, _, _ = REPLY.unpack_from(reply)
        assert got == case, "one case at a time"
        return status, reply[REPLY.size :].split(b"\0")[0].decode()

    def close(self) -> None:
        self.sock.close()
        os.waitpid(self.pid, 0)


def archive(files: dict[str, bytes]) -> int:
    fd = os.memfd_create("files", 0)
    for name, data in files.items():
        os.write(fd, name.encode() + b"\0" + struct.pack("<Q", len(data)) + data)
    return fd


def main() -> None:
    with tempfile.TemporaryDirectory() as where:
        binary = os.path.join(where, "native-floor")
        subprocess.run(["gcc", "-O2", "-Wall", "-o", binary, str(SOURCE)], check=True)
        built = os.path.join(where, "built")
        os.mkdir(built)
        Path(built, "main.c").write_text(SUM["c"])
        program = os.path.join(built, "program")
        subprocess.run(["gcc", "-O2", "-o", program, os.path.join(built, "main.c")], check=True)
        readable = [*languages.toolchain("c").run_mounts, built]
        supervisor = Supervisor(readable, binary)
        image = Path(program).read_bytes()
        out = os.path.join(where, "out")

        def warm(skip: int) -> Callable[[], None]:
            argv = [program if skip & NO_WORK else "/work/program"]

            def grading() -> None:
                files = archive({"program": image})
                for case in SUM_CASES:
                    stdin = os.memfd_create("stdin", 0)
                    os.write(stdin, case["stdin"].encode())
                    os.lseek(stdin, 0, os.SEEK_SET)
                    stdout = os.open(out, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
                    stderr = os.open(out + ".err", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
                    status, failure = supervisor.run(argv, files, [stdin, stdout, stderr], skip)
                    printed = os.pread(stdout, 4096, 0).decode()
                    for fd in (stdin, stdout, stderr):
                        os.close(fd)
                    assert status == 0 and printed.split() == case["stdout"].split(), failure
                os.close(files)

            return grading

        def bare() -> None:
            for case in SUM_CASES:
                done = subprocess.run([program], input=case["stdin"].encode(), capture_output=True)
                assert done.stdout.split() == case["stdout"].encode().split()

        loop = asyncio.new_event_loop()
        sandbox = loop.run_until_complete(Sandbox("forkserver", compile_cache_dir=where).start())
        job = SandboxJob(code=SUM["c"], language="c", io_cases=SUM_CASES, limits=LIMITS)

        def production() -> None:
            result = loop.run_until_complete(sandbox.run_in_sandbox(job))
            assert result.verdict == Verdict.PASSED, result.message

        ways = {
            "bare (subprocess.run per case)": bare,
            "warm namespaces: own uid, private /work, seccomp": warm(0),
            "warm namespaces: own uid, seccomp": warm(NO_WORK),
            "warm namespaces: own uid only (the floor)": warm(NO_WORK | NO_FILTER),
            "production sandbox (fork server, compile cache)": production,
        }
        medians: dict[str, list[float]] = {name: [] for name in ways}
        try:
            for work in ways.values():
                for _ in range(20):
                    work()
            for _ in range(ROUNDS):
                for name, work in ways.items():
                    took = []
                    for _ in range(GRADINGS):
                        started = time.perf_counter()
                        work()
                        took.append((time.perf_counter() - started) * 1000)
                    medians[name].append(statistics.median(took))
        finally:
            supervisor.close()
            loop.run_until_complete(sandbox.close())
            loop.close()
        bare_ms = statistics.median(medians["bare (subprocess.run per case)"])
        print(
            f"C Sum, {len(SUM_CASES)} I/O cases a grading; medians of {ROUNDS} rounds of {GRADINGS}"
        )
        print("| how each case runs | ms a grading | / bare |")
        print("| --- | ---: | ---: |")
        for name, values in medians.items():
            ms = statistics.median(values)
            print(f"| {name} | {ms:.2f} | {ms / bare_ms:.2f}x |")


if __name__ == "__main__":
    main()
