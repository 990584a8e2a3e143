"""What a language is to GradeFlow: how its source is named, compiled and run, what its toolchain is, and how its
runtime words the ways a program can fail. Each language is one module beside this one (c, cpp, java, javascript,
python) defining a subclass of `Language`; `gradeflow.languages` lists them.

Pure description and no imports beyond the standard library: the sandbox's own processes (the judge, which builds
the command lines and reads the toolchain from here), the worker, the API and the dashboard all load it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, ClassVar

# The toolchains are looked up on this PATH, never the caller's: the sandbox server runs with an empty environment.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# The work directory inside the sandbox (confine.WORK_DIR), where the sources and the compiled program live.
WORK = "/work"
# What a compiled program, the compiler and the runtimes see as their environment (nothing of the worker's).
BASE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": WORK, "TMPDIR": WORK}

# The compile step's own limits (an assignment may set each, under `limits`).
COMPILE_DEFAULTS: dict[str, float] = {
    "compile_cpu_seconds": 10.0,
    "compile_wall_seconds": 20.0,
    "compile_memory_mb": 512,
    "compile_output_kb": 64,  # the compiler's diagnostics kept
}
COMPILE_BOUNDS: dict[str, tuple[float, float]] = {
    "compile_cpu_seconds": (1, 60),
    "compile_wall_seconds": (2, 120),
    "compile_memory_mb": (128, 4096),
    "compile_output_kb": (4, 1024),
}


class ToolchainMissing(RuntimeError):
    """This machine lacks what a language needs; the message names it and how to install it."""


@dataclass(frozen=True)
class Toolchain:
    """A language's toolchain as found on this machine: its version (part of every compile cache key), the
    programs to run by absolute path, and what the sandbox mounts read-only for the compile and the run."""

    language: str
    version: str
    programs: dict[str, str]
    compile_mounts: tuple[str, ...]
    run_mounts: tuple[str, ...]


@dataclass(frozen=True)
class Limits:
    """The limits that apply to one run of a program, after the language's adjustments: what the sandbox sets and
    what the student is told."""

    cpu_seconds: float
    wall_seconds: float
    memory_mb: int
    output_kb: int
    # "address_space" (RLIMIT_AS) for programs that map what they use; "data" (RLIMIT_DATA) for runtimes that
    # reserve large address ranges up front (the JVM, V8) and get their heap limit as a flag instead.
    memory_kind: str = "address_space"
    # The rlimit itself, MiB: the memory limit plus the runtime's own overhead where it has one.
    memory_rlimit_mb: int = 0


@dataclass(frozen=True)
class Program:
    """What to run in the sandbox for one step: the command line, its environment, the files it gets, and (for a
    compile) the files to bring back."""

    argv: list[str]
    env: dict[str, str]
    files: dict[str, bytes]
    collect: tuple[str, ...] = ()
    may_fork: bool = False
    # How memory is limited for this step (see Limits.memory_kind) and what the runtime needs beyond the limit
    memory_kind: str = "address_space"
    memory_overhead_mb: int = 0


@dataclass
class Language:
    name: ClassVar[str]
    title: ClassVar[str]  # what people read: "C (C17, gcc 12)"
    ace_mode: ClassVar[str]  # the dashboard editor's highlighting
    lexer: ClassVar[str]  # pygments' name, for similarity reports
    compiled: ClassVar[bool] = (
        True  # has a compile step (a check of the source, for interpreted ones)
    )
    source_name: ClassVar[str]  # the student's file in the sandbox
    driver_name: ClassVar[str] = ""  # the instructor's driver (function tests), beside it
    # CPU and wall time allowed relative to the assignment's limits (stated in the README): runtimes with a slow
    # start get more.
    time_factor: ClassVar[float] = 1.0
    # How memory is limited (Limits.memory_kind) and what the runtime maps beyond the student's limit, MiB
    memory_kind: ClassVar[str] = "address_space"
    runtime_overhead_mb: ClassVar[int] = 0
    # The runs of a compiled program are served by the sandbox server's warm namespaces (sandbox/warm.py) when
    # it has them: a native program that needs only its libraries, no runtime's files, no process of its own
    warm_runs: ClassVar[bool] = False
    # Installing the toolchain, for the worker's warning and the README
    install_hint: ClassVar[str] = ""
    # What the runtime prints when the program ran out of memory (the verdict is memory_limit, not a crash)
    memory_markers: ClassVar[tuple[str, ...]] = ()
    # What a toolchain that cannot work here prints (a missing library, the compiler's own crash): the sandbox's
    # fault, retried and never cached, not a compile error
    broken_markers: ClassVar[tuple[str, ...]] = ("error while loading shared libraries",)
    starter: ClassVar[str] = ""
    # A known-good program printing the sum of two integers on stdin, and a wrong one: the worker's probe
    probe_source: ClassVar[str] = ""
    options: dict[str, Any] = field(default_factory=dict)

    # --- the toolchain --------------------------------------------------------------------------------------
    def find_toolchain(self) -> Toolchain:
        raise NotImplementedError

    @staticmethod
    def which(program: str, hint: str) -> str:
        path = shutil.which(program, path=SYSTEM_PATH)
        if path is None:
            raise ToolchainMissing(f"`{program}` is not installed ({hint})")
        return os.path.realpath(path)

    @staticmethod
    def version_of(argv: list[str]) -> str:
        try:
            out = subprocess.run(
                argv, capture_output=True, text=True, timeout=30, env={"PATH": SYSTEM_PATH}
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolchainMissing(f"`{' '.join(argv)}` failed: {exc}") from None
        text = (out.stdout + out.stderr).strip().splitlines()
        if out.returncode != 0 or not text:
            raise ToolchainMissing(f"`{' '.join(argv)}` failed (exit code {out.returncode})")
        return text[0].strip()

    # --- the steps ------------------------------------------------------------------------------------------
    def sources(self, code: str, driver: str) -> dict[str, bytes]:
        files = {self.source_name: code.encode()}
        if driver:
            files[self.driver_name] = driver.encode()
        return files

    def compile_program(self, toolchain: Toolchain, code: str, driver: str) -> Program:
        raise NotImplementedError

    def run_program(
        self, toolchain: Toolchain, artifact: dict[str, bytes], limits: Limits, driver: str
    ) -> Program:
        """The program to run for one case: the student's own (an I/O case), or the instructor's `driver` (its
        source; empty for an I/O case) built with the student's code (a function test)."""
        raise NotImplementedError

    def cache_key(self, toolchain: Toolchain, program: Program, salt: str = "") -> str:
        """What a compile produces depends on the toolchain's version, the compile's command line and
        environment, and the files it reads (and `salt`: the sandbox's own recipe): the compile cache's key."""
        h = hashlib.sha256()
        parts: list[str | bytes] = [
            salt,
            self.name,
            toolchain.version,
            json.dumps([program.argv, program.env], sort_keys=True),
        ]
        for name in sorted(program.files):
            parts += [name, program.files[name]]
        for part in parts:
            data = part if isinstance(part, bytes) else part.encode()
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
        return h.hexdigest()

    # --- limits and verdicts --------------------------------------------------------------------------------
    def limits(self, limits: dict[str, Any]) -> Limits:
        return Limits(
            cpu_seconds=float(limits["cpu_seconds"]) * self.time_factor,
            wall_seconds=float(limits["wall_seconds"]) * self.time_factor,
            memory_mb=int(limits["memory_mb"]),
            output_kb=int(limits["output_kb"]),
            memory_kind=self.memory_kind,
            memory_rlimit_mb=int(limits["memory_mb"]) + self.runtime_overhead_mb,
        )

    def ran_out_of_memory(self, stderr_tail: str) -> bool:
        return any(marker in stderr_tail for marker in self.memory_markers)

    def error_line(self, stderr: str) -> str:
        """The line of a failed run's stderr that says what went wrong (the last, unless the runtime prints a
        stack trace after it)."""
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        return lines[-1][:500] if lines else ""

    def toolchain_broken(self, diagnostics: str) -> bool:
        return any(marker in diagnostics for marker in self.broken_markers)

    def diagnostics(self, text: str) -> str:
        """The compiler's words as the student reads them: without the sandbox's paths."""
        return re.sub(rf"(?<![\w/]){WORK}/", "", text)


def realpaths(*paths: str) -> tuple[str, ...]:
    """Existing directories or files, resolved, without one below another."""
    real = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    return tuple(p for p in real if not any(p != q and p.startswith(q + "/") for q in real))


def system_libraries() -> tuple[str, ...]:
    """The shared libraries every dynamically linked program loads (and the loader itself)."""
    return realpaths(
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib64",
        "/usr/lib64",
    )
