"""The worker's side of the sandbox: `Sandbox.run_in_sandbox(job)`.

By default jobs go to a warm fork server; the fallback is a fresh interpreter per job. A machine that cannot
isolate makes `Sandbox.start` raise IsolationUnavailable naming what is missing, unless unsafe grading was
explicitly allowed for development.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import struct
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradeflow.limits import DEFAULT_LIMITS
from gradeflow.vocabulary import Verdict
from sandbox import wire

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[1]

MODES = ("auto", "forkserver", "fresh")
# Connections to the warm judge kept open for the next job (a connection a job cost the worker and the judge about
# 0.1 ms of CPU: the connect, the judge's accept and its thread's start); the judge closes one idle longer than
# sandbox.server.WARM_IDLE_SECONDS
WARM_IDLE_CONNECTIONS = 8
UNSAFE_WARNING = (
    "UNSAFE: graded WITHOUT isolation (GRADEFLOW_UNSAFE_GRADING is on). Never use this with "
    "untrusted code."
)
# A known-good 3-test job: the worker's start-up proof that isolation works, and the benchmark's workload.
PROBE_CODE = "def add(a, b):\n    return a + b\n"
PROBE_TESTS = """import unittest
from solution import add


class TestAdd(unittest.TestCase):
    def test_small(self):
        self.assertEqual(add(2, 3), 5)

    def test_negative(self):
        self.assertEqual(add(-1, 1), 0)

    def test_large(self):
        self.assertEqual(add(10 ** 20, 1), 10 ** 20 + 1)
"""


@dataclass
class SandboxJob:
    code: str
    test_code: str = ""
    io_cases: list[dict[str, Any]] = field(default_factory=list)
    limits: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    nice: int = 0  # regrades run niced so live submissions win the CPU
    language: str = "python"
    language_options: dict[str, Any] = field(default_factory=dict)  # e.g. Java's main_class
    # Compiled languages: the driver's cases (stdin for the driver, the output expected of it); the driver is
    # `test_code`
    function_tests: list[dict[str, Any]] = field(default_factory=list)
    op: str = "grade"  # or "compile": the compile step alone (the compile cache keeps what it made)

    @property
    def runs(self) -> int:
        return 1 + len(self.io_cases) + len(self.function_tests)


@dataclass
class SandboxResult:
    verdict: str
    tests: list[dict[str, Any]]
    message: str = ""
    stdout: str = ""
    stderr: str = ""
    cpu_ms: int = 0
    wall_ms: int = 0
    peak_memory_kb: int = 0
    sandbox: str = ""
    judge_cpu_ms: int = 0
    # "warm": graded by the warm judge, without a fork (sandbox.server.start_warm_judge); "" by a judge of its own
    judge: str = ""
    compile: dict[str, Any] = field(default_factory=dict)  # cached, ms, ok
    limits: dict[str, Any] = field(
        default_factory=dict
    )  # the limits that applied, when the language adjusts them

    @property
    def passed(self) -> bool:
        return self.verdict == Verdict.PASSED


def storable(value: Any) -> Any:
    """Text from a run as PostgreSQL can store it: no NUL characters, no lone surrogates (a student can print
    either, and a result that cannot be recorded would be retried forever)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    return value


class SandboxError(RuntimeError):
    """The sandbox itself failed (could not start, judge crashed): an infrastructure fault worth retrying."""


class IsolationUnavailable(RuntimeError):
    """This machine cannot isolate student code; the message says what is missing."""


SANDBOX_DIR_PREFIX = "gradeflow-sandbox-"
OWNER_FILE = "owner.pid"


def sweep_abandoned_dirs() -> None:
    """Remove sandbox directories whose worker is gone (killed before it could clean up)."""
    for path in Path(tempfile.gettempdir()).glob(SANDBOX_DIR_PREFIX + "*"):
        try:
            owner = int((path / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not Path(f"/proc/{owner}").exists():
            shutil.rmtree(path, ignore_errors=True)


class Sandbox:
    def __init__(
        self,
        mode: str = "auto",
        unsafe: bool = False,
        simulate_missing: str | None = None,
        compile_cache_dir: str | None = None,
        compile_cache_mb: int = 512,
        native_spawner: bool = True,
        warm_native: bool = True,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"sandbox mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.requested = mode
        self.mode = "unsafe" if unsafe else mode
        self.unsafe = unsafe
        self.simulate_missing = simulate_missing
        self.compile_cache_dir = compile_cache_dir
        self.compile_cache_mb = compile_cache_mb
        # False: a native grading's pid 1 forks each case itself (what it does anyway without a C compiler)
        self.native_spawner = native_spawner
        # False: compiled C and C++ programs run in namespaces made for each grading, not the warm ones
        self.warm_native = warm_native
        self._server: asyncio.subprocess.Process | None = None
        self._dir: str | None = None
        self._lock = asyncio.Lock()
        # Open connections to the warm judge, none in use, with the event loop they belong to
        self._warm_idle: list[
            tuple[asyncio.AbstractEventLoop, asyncio.StreamReader, asyncio.StreamWriter]
        ] = []

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def _argv(self, *extra: str) -> list[str]:
        # -I -S: no environment, no user or site packages; only the project's own sandbox modules are added.
        bootstrap = (
            f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r}); "
            "from sandbox.server import main; main()"
        )
        cache = (
            ["--cache-dir", self.compile_cache_dir, "--cache-mb", str(self.compile_cache_mb)]
            if self.compile_cache_dir
            else []
        )
        return (
            [sys.executable, "-I", "-S", "-c", bootstrap, *extra, *cache]
            + (["--unsafe"] if self.unsafe else [])
            + ([] if self.native_spawner else ["--no-spawner"])
            + ([] if self.warm_native else ["--no-warm"])
        )

    @property
    def _runs_dir(self) -> str:
        assert self._dir is not None, "the sandbox was not started"
        return self._dir

    @property
    def _socket_path(self) -> str:
        return os.path.join(self._runs_dir, "sandbox.sock")

    @property
    def _warm_socket_path(self) -> str:
        return os.path.join(self._runs_dir, "warm-judge.sock")

    def _make_dir(self) -> None:
        """A private (0700) directory for the fork server's socket and every run's files; it names its owner so
        a later start can remove what a killed worker left behind."""
        sweep_abandoned_dirs()
        self._dir = tempfile.mkdtemp(prefix=SANDBOX_DIR_PREFIX)
        Path(self._dir, OWNER_FILE).write_text(str(os.getpid()))

    async def _start_server(self) -> None:
        self._make_dir()
        # Empty environment and no inherited descriptors: the fork server holds no secret to leak.
        self._server = await asyncio.create_subprocess_exec(
            *self._argv(
                "--socket",
                self._socket_path,
                "--warm-socket",
                self._warm_socket_path,
                "--runs-dir",
                self._runs_dir,
            ),
            env={},
            cwd="/",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            close_fds=True,
        )
        try:
            assert self._server.stdout is not None  # stdout=PIPE
            line = await asyncio.wait_for(self._server.stdout.readline(), 30)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            code = self._server.returncode
            await self.close()
            raise SandboxError(
                f"the sandbox fork server did not start (exit code {code}; its error is in the "
                "worker's log)"
            )

    async def start(self) -> Sandbox:
        """Start the fork server (or pick the fallback) and prove isolation works with a real grading."""
        if self.unsafe:
            log.critical(UNSAFE_WARNING)
            await self._start_server()
            self.mode = "unsafe"
            return self
        problems = []
        for mode in ["forkserver", "fresh"] if self.requested == "auto" else [self.requested]:
            self.mode = mode
            try:
                if mode == "forkserver":
                    await self._start_server()
                else:
                    self._make_dir()
                await self._probe()
                log.info("sandbox ready: %s", mode)
                return self
            except (SandboxError, OSError) as exc:
                problems.append(f"{mode}: {exc}")
                await self.close()
        raise IsolationUnavailable(
            "GradeFlow cannot isolate student code on this machine, so this worker refuses to grade. "
            + " ".join(problems)
            + " For development only, GRADEFLOW_UNSAFE_GRADING=1 grades without isolation."
        )

    async def _probe(self) -> None:
        result = await self.run_in_sandbox(
            SandboxJob(code=PROBE_CODE, test_code=PROBE_TESTS), timeout=60
        )
        if result.verdict != Verdict.PASSED:
            raise SandboxError(
                f"a known-good probe grading came back {result.verdict}: {result.message}"
            )

    async def close(self) -> None:
        for _, _, writer in self._warm_idle:
            writer.close()
        self._warm_idle.clear()
        if self._server and self._server.returncode is None:
            self._server.terminate()
            await self._server.wait()
        self._server = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # --- grading -----------------------------------------------------------------------------------------------
    def _job(self, job: SandboxJob) -> dict[str, Any]:
        return {
            "code": job.code,
            "test_code": job.test_code,
            "io_cases": job.io_cases,
            "nice": job.nice,
            "limits": {**DEFAULT_LIMITS, **job.limits},
            "simulate_missing": self.simulate_missing,
            "language": job.language,
            "language_options": job.language_options,
            "function_tests": job.function_tests,
            "op": job.op,
        }

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, job: dict, timeout: float
    ) -> dict[str, Any]:
        writer.write(wire.pack(job))
        await writer.drain()
        header = await asyncio.wait_for(reader.readexactly(4), timeout)
        (length,) = struct.unpack(">I", header)
        if length > 4 * wire.MAX_FRAME:
            raise SandboxError("the judge sent an oversized result")
        return wire.unpack(await asyncio.wait_for(reader.readexactly(length), timeout))

    async def run_in_sandbox(self, job: SandboxJob, timeout: float | None = None) -> SandboxResult:
        payload = self._job(job)
        # Every run at its wall limit (a slow runtime's factor included), and the compile at its own
        timeout = timeout or job.runs * (3 * float(payload["limits"]["wall_seconds"]) + 2) + 60
        try:
            if self.mode in ("forkserver", "unsafe"):
                result = await self._via_server(payload, timeout)
            else:
                result = await self._via_fresh_interpreter(payload, timeout)
        except (
            OSError,
            EOFError,
            asyncio.IncompleteReadError,
            TimeoutError,
            wire.ProtocolError,
        ) as exc:
            raise SandboxError(f"the sandbox failed: {type(exc).__name__}: {exc}") from exc
        if "sandbox_error" in result:
            raise SandboxError(str(result["sandbox_error"]))
        if "compiled" in result:  # the compile step alone
            compiled = result["compiled"]
            return SandboxResult(
                verdict=Verdict.PASSED if compiled["ok"] else Verdict.COMPILE_ERROR,
                tests=[],
                message=storable(result.get("message", "")),
                compile=compiled,
            )
        result = storable(result)
        message = result.get("message", "")
        if self.unsafe:
            message = f"{UNSAFE_WARNING} {message}".strip()
        return SandboxResult(
            verdict=result["verdict"],
            tests=result["tests"],
            message=message,
            stdout=result.get("stdout", ""),
            stderr=result.get("stderr", ""),
            cpu_ms=result.get("cpu_ms", 0),
            wall_ms=result.get("wall_ms", 0),
            peak_memory_kb=result.get("peak_memory_kb", 0),
            sandbox=result.get("sandbox", self.mode),
            judge_cpu_ms=result.get("judge_cpu_ms", 0),
            judge=result.get("judge", ""),
            compile=result.get("compile") or {},
            limits=result.get("limits") or {},
        )

    async def _via_server(self, payload: dict, timeout: float) -> dict[str, Any]:
        if self._server is None or self._server.returncode is not None:
            # A crashed fork server is restarted, once, by whoever notices first
            async with self._lock:
                if self._server is None or self._server.returncode is not None:
                    log.warning("sandbox fork server is not running; restarting it")
                    await self.close()
                    await self._start_server()
        if (payload.get("language") or "python") != "python":
            result = await self._via_warm_judge(payload, timeout)
            if result is not None:
                return result
        reader, writer = await asyncio.open_unix_connection(self._socket_path)
        try:
            return await self._exchange(reader, writer, payload, timeout)
        finally:
            writer.close()

    async def _via_warm_judge(self, payload: dict, timeout: float) -> dict[str, Any] | None:
        """The warm judge's result (sandbox.server.start_warm_judge), or None: there is none (this machine has no
        warm supervisor, or it ended), or the job needs a fork (a compile; the supervisor busy) and goes to the
        fork server. On a connection kept from an earlier job when there is one."""
        loop = asyncio.get_running_loop()
        while True:
            kept = self._warm_connection(loop)
            if kept is not None:
                reader, writer = kept
            else:
                try:
                    reader, writer = await asyncio.open_unix_connection(self._warm_socket_path)
                except OSError:
                    return None
            try:
                result = await self._exchange(reader, writer, payload, timeout)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                writer.close()
                closed_while_kept = kept is not None and (
                    not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
                )
                if closed_while_kept:  # the judge closed it idle (or ended): the job was not read
                    continue
                raise
            except BaseException:  # a half-read answer would be the next job's: never kept
                writer.close()
                raise
            if len(self._warm_idle) < WARM_IDLE_CONNECTIONS:
                self._warm_idle.append((loop, reader, writer))
            else:
                writer.close()
            return None if result.get("cold") else result

    def _warm_connection(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A kept connection of this event loop, if one is open."""
        while self._warm_idle:
            owner, reader, writer = self._warm_idle.pop()
            if owner is loop and not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    async def _via_fresh_interpreter(self, payload: dict, timeout: float) -> dict[str, Any]:
        ours, theirs = socket.socketpair()
        proc = await asyncio.create_subprocess_exec(
            *self._argv("--once", "--runs-dir", self._runs_dir),
            env={},
            cwd="/",
            stdin=theirs.fileno(),
            stdout=asyncio.subprocess.DEVNULL,
            close_fds=True,
        )
        theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        try:
            return await self._exchange(reader, writer, payload, timeout)
        finally:
            writer.close()
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 5)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
