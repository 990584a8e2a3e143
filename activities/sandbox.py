"""`run_in_sandbox`: grade one submission's code against unittest tests in an isolated child process.

Walking-skeleton implementation (issue #2): a plain subprocess with an empty environment, a fresh temp directory,
CPU/memory/file-size rlimits, a wall-clock kill of the whole process group and output capped by RLIMIT_FSIZE.
Issue #3 replaces this module's internals with the hardened sandbox; callers only see `run_in_sandbox`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HARNESS = Path(__file__).with_name("harness.py")
EXCERPT_BYTES = 4096

DEFAULT_LIMITS: dict[str, float] = {"cpu_seconds": 2.0, "wall_seconds": 5.0, "memory_mb": 256, "output_kb": 256}


@dataclass
class SandboxJob:
    code: str
    test_code: str
    limits: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LIMITS))


@dataclass
class SandboxResult:
    verdict: str
    tests: list[dict[str, Any]]
    stdout: str = ""
    stderr: str = ""
    message: str = ""
    cpu_ms: int = 0
    wall_ms: int = 0
    peak_memory_kb: int = 0

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the student's code): an infrastructure fault worth retrying."""


def _excerpt(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(EXCERPT_BYTES + 1)
    except FileNotFoundError:
        return ""
    text = data[:EXCERPT_BYTES].decode("utf-8", "replace")
    return text + "\n… (truncated)" if len(data) > EXCERPT_BYTES else text


async def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait for the child to exit without reaping it; False on timeout."""
    loop = asyncio.get_running_loop()
    pidfd = os.pidfd_open(pid)
    exited = loop.create_future()
    loop.add_reader(pidfd, lambda: exited.done() or exited.set_result(None))
    try:
        await asyncio.wait_for(exited, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


def _verdict(outcome: dict | None, signalled: int | None, timed_out: bool, rc: int, stderr: str) -> tuple[str, str]:
    if timed_out or signalled in (signal.SIGXCPU, signal.SIGKILL):
        return "time_limit", "The program ran out of time."
    if signalled == signal.SIGXFSZ:
        return "output_limit", "The program wrote more output than allowed."
    if outcome is None:
        if "MemoryError" in stderr:
            return "memory_limit", "The program ran out of memory."
        return "runtime_error", f"The program stopped before the tests finished (exit code {rc})."
    if outcome["import_error"]:
        return outcome["import_error"]["verdict"], outcome["import_error"]["message"]
    tests = outcome["tests"]
    if not tests:
        return "internal_error", "The assignment has no tests."
    if all(t["passed"] for t in tests):
        return "passed", ""
    kinds = {t["kind"] for t in tests}
    if "memory" in kinds:
        return "memory_limit", "The program ran out of memory."
    if "output" in kinds:
        return "output_limit", "The program wrote more output than allowed."
    if "error" in kinds:
        return "runtime_error", next(t["message"] for t in tests if t["kind"] == "error")
    return "wrong_answer", next(t["message"] for t in tests if not t["passed"])


async def run_in_sandbox(job: SandboxJob) -> SandboxResult:
    limits = {**DEFAULT_LIMITS, **job.limits}
    workdir = Path(tempfile.mkdtemp(prefix="gradeflow-run-"))
    try:
        (workdir / "solution.py").write_text(job.code)
        (workdir / "test_solution.py").write_text(job.test_code)
        (workdir / "limits.json").write_text(json.dumps(limits))
        result_path = workdir / "result.json"
        started = time.monotonic()
        try:
            with open(workdir / "stdout", "wb") as out, open(workdir / "stderr", "wb") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(HARNESS), str(workdir), str(result_path)],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=workdir, env={},
                    start_new_session=True, close_fds=True,
                )
        except OSError as exc:
            raise SandboxError(f"could not start the grading process: {exc}") from exc
        timed_out = not await _wait_exit(proc.pid, limits["wall_seconds"])
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the wall-clock kill, and whatever the run left behind
        except ProcessLookupError:
            pass
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall_ms = int((time.monotonic() - started) * 1000)
        signalled = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        try:
            outcome = json.loads(result_path.read_text())
        except (FileNotFoundError, ValueError):
            outcome = None
        stdout, stderr = _excerpt(workdir / "stdout"), _excerpt(workdir / "stderr")
        verdict, message = _verdict(outcome, signalled, timed_out, proc.returncode, stderr)
        tests = [{k: t[k] for k in ("name", "passed", "message")} for t in (outcome or {}).get("tests", [])]
        return SandboxResult(
            verdict=verdict, tests=tests, stdout=stdout, stderr=stderr, message=message,
            cpu_ms=int((usage.ru_utime + usage.ru_stime) * 1000), wall_ms=wall_ms,
            peak_memory_kb=int(usage.ru_maxrss),
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
