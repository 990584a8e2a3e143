"""The judge's side of compiled and interpreted non-Python languages (C, C++, Java, JavaScript): compile once in a
sandboxed run of its own (or take the compile cache's), then run the program per I/O case and per function test,
each in a fresh process of one sandbox per grading, comparing what it printed outside.

Function tests: the instructor's driver (in the assignment's language) is compiled with the student's code, reads a
test's input on stdin, calls the student's functions and prints what they return. The expected output never enters
the sandbox: the judge compares it here, test by test.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gradeflow import languages
from gradeflow.languages import COMPILE_DEFAULTS, Language, Toolchain
from sandbox import confine, runs, warm, wire
from sandbox.compile_cache import CompileCache, Entry
from sandbox.supervise import ARTIFACT_BYTES, Spec

# Part of every compile cache key: raise it when a change here can change what a compile produces
RECIPE = "1"
# The compile's products may be this large (file size limit inside the compile's own sandbox), MiB
COMPILE_FILE_MB = 64
COMPILE_WORK_MB = 256
MESSAGE_LINES = 12
# The outputs of a batch of warm cases held at once (each case's stdout at its limit, and its stderr)
BATCH_OUTPUT_BYTES = 16 * 2**20
# What a case's record reads of its stderr
STDERR_BYTES = 64 * 1024
SEALED = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
# Words for the signals a crashed program most often dies of
SIGNAL_WORDS = {
    signal.SIGSEGV: "an invalid memory access (a bad pointer, an array index out of bounds, or a stack "
    "overflow from too deep recursion)",
    signal.SIGFPE: "an arithmetic error (an integer division by zero)",
    signal.SIGABRT: "abort() (a failed assertion, or an exception nobody caught)",
    signal.SIGBUS: "a bus error (a misaligned or unmapped memory access)",
    signal.SIGILL: "an illegal instruction",
    signal.SIGKILL: "a kill",
}


@dataclass
class Compiled:
    ok: bool
    files: dict[str, bytes]
    diagnostics: str
    cached: bool
    ms: int
    message: str = ""  # the first diagnostics, as the student reads them


def compile_limits(limits: dict[str, Any]) -> dict[str, Any]:
    # A limit stored as null (an older API kept them) is the default
    given = {k: v for k, v in limits.items() if k in COMPILE_DEFAULTS and v is not None}
    merged = {**COMPILE_DEFAULTS, **given}
    return {
        "cpu_seconds": float(merged["compile_cpu_seconds"]),
        "wall_seconds": float(merged["compile_wall_seconds"]),
        "memory_mb": int(merged["compile_memory_mb"]),
        "output_kb": COMPILE_FILE_MB * 1024,
        "diagnostics_kb": int(merged["compile_output_kb"]),
    }


def first_diagnostics(language: Language, text: str) -> str:
    lines = [line for line in language.diagnostics(text).splitlines() if line.strip()]
    shown = "\n".join(lines[:MESSAGE_LINES])
    more = len(lines) - MESSAGE_LINES
    return shown + (f"\n… ({more} more lines)" if more > 0 else "")


def compile_step(
    job: dict[str, Any],
    opts: Any,
    children: list,
    language: Language,
    toolchain: Toolchain,
    cache: CompileCache | None,
) -> Compiled:
    started = time.monotonic()
    code, driver = job["code"], job.get("test_code") or ""
    program = language.compile_program(toolchain, code, driver)
    key = language.cache_key(toolchain, program, RECIPE)
    entry = cache.get(key) if cache else None
    if entry is not None:
        return Compiled(
            entry.ok,
            entry.files,
            entry.diagnostics,
            True,
            int((time.monotonic() - started) * 1000),
            first_diagnostics(language, entry.diagnostics) if not entry.ok else "",
        )
    if opts.persistent:
        raise runs.NeedsFork("not in the compile cache")
    limits = compile_limits(job["limits"])
    spec = Spec(
        argv=program.argv,
        env=program.env,
        files=program.files,
        mounts=toolchain.compile_mounts,
        limits=limits,
        memory_kind=program.memory_kind,
        memory_rlimit_mb=limits["memory_mb"] + program.memory_overhead_mb,
        profile=confine.COMPILER if program.may_fork else confine.PROGRAM,
        collect=program.collect,
        work_mb=COMPILE_WORK_MB,
    )
    child = runs.launch(job, opts, children, "exec", spec=spec)
    runs.await_ready(child)
    products: dict[str, Any] = {}
    try:
        products = wire.recv(child.sock, child.deadline, limit=2 * ARTIFACT_BYTES)
    except wire.Timeout:
        pass
    except (EOFError, OSError, wire.ProtocolError):  # the compile failed: nothing was sent
        pass
    timed_out = time.monotonic() >= child.deadline
    status = child.finish(0 if timed_out else 1.0)
    sig = runs.exit_signal(status)
    diagnostics = child.excerpt("stderr", int(limits["diagnostics_kb"]) * 1024)
    stdout = child.excerpt("stdout", int(limits["diagnostics_kb"]) * 1024)
    if stdout.strip():  # some compilers (javac with many errors) also write to stdout
        diagnostics = (stdout + "\n" + diagnostics).strip()
    files = {name: base64.b64decode(data) for name, data in (products.get("files") or {}).items()}
    ms = int((time.monotonic() - started) * 1000)
    infra = False
    if timed_out or sig == signal.SIGXCPU:
        diagnostics = (
            f"The compiler ran out of time ({limits['cpu_seconds']:g} s CPU, "
            f"{limits['wall_seconds']:g} s in all): the code is too hard to compile.\n"
            + diagnostics
        )
    elif sig is not None:
        diagnostics = f"The compiler crashed ({signal.Signals(sig).name}).\n" + diagnostics
    elif products.get("too_large"):
        diagnostics = f"The compiled program is over {ARTIFACT_BYTES // 2**20} MiB.\n" + diagnostics
    ok = not timed_out and sig is None and os.WEXITSTATUS(status) == 0 and bool(files)
    if not ok and (not diagnostics.strip() or language.toolchain_broken(diagnostics)):
        # The compiler said nothing and made nothing, or could not work here: not the student's doing
        infra = True
    if cache is not None and not infra and not timed_out:
        cache.put(key, Entry(ok, files, diagnostics))
    if infra:
        raise runs.SandboxFault(
            f"the {language.title} compiler failed (status {status}): {diagnostics.strip()[:500]}"
        )
    return Compiled(
        ok,
        files,
        diagnostics,
        False,
        ms,
        "" if ok else first_diagnostics(language, diagnostics),
    )


def classify(
    language: Language,
    limits: languages.Limits,
    status: int,
    cpu_seconds: float,
    maxrss_kb: int,
    output_len: int,
    stderr: str,
) -> tuple[str, str] | None:
    """How a run ended, as (kind, message), or None when it exited 0 and its output is to be compared."""
    sig = runs.exit_signal(status)
    output_limit = limits.output_kb * 1024
    abnormal = sig is not None or not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
    # The output file is capped at the limit: a full one means the program went on printing past it (runtimes
    # that ignore SIGXFSZ, like the JVM, then run on until their time is up)
    if sig == signal.SIGXFSZ or output_len >= output_limit:
        return "output", "Output limit exceeded"
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_seconds >= 0.9 * limits.cpu_seconds):
        return "time", "Time limit exceeded"
    tail = stderr[-4000:]
    near_limit = (
        limits.memory_kind == "address_space" and maxrss_kb * 1024 >= 0.5 * limits.memory_mb * 2**20
    )
    if abnormal and (language.ran_out_of_memory(tail) or near_limit):
        return "memory", "Memory limit exceeded"
    if sig is not None:
        name = signal.Signals(sig).name
        words = SIGNAL_WORDS.get(signal.Signals(sig), "a signal")
        return "runtime", f"The program crashed with {name}: {words}."
    if abnormal:
        line = language.error_line(stderr)
        code = os.WEXITSTATUS(status)
        return "runtime", f"The program ended with exit code {code}" + (
            f": {line}" if line else "."
        )
    return None


def run_cases(
    job: dict[str, Any],
    opts: Any,
    children: list,
    language: Language,
    toolchain: Toolchain,
    compiled: Compiled,
    limits: languages.Limits,
    cases: list[tuple[dict[str, Any], str]],
    driver: str,
    used: dict[str, float],
) -> list[dict[str, Any]]:
    """Run the program (with `driver`, for function tests) once per case in one sandbox: its pid 1 starts a
    fresh process per case on the descriptors sent here, under the case's limits, and puts /work back between
    cases (sandbox.supervise.serve_cases); or, for a language that runs warm, the warm supervisor does
    (sandbox.warm), whose cases are not the judge's children: their CPU and peak memory are added to `used`. What
    each case printed is compared here."""
    if not cases:
        return []
    program = language.run_program(toolchain, compiled.files, limits, driver)
    spec = Spec(
        argv=program.argv,
        env=program.env,
        files=program.files,
        mounts=(*toolchain.run_mounts, *([opts.spawner] if opts.spawner else [])),
        limits={
            "cpu_seconds": limits.cpu_seconds,
            "wall_seconds": limits.wall_seconds,
            "memory_mb": limits.memory_mb,
            "output_kb": limits.output_kb,
        },
        memory_kind=limits.memory_kind,
        memory_rlimit_mb=limits.memory_rlimit_mb,
        profile=confine.PROGRAM,
        work_mb=max(4, limits.output_kb // 1024 + 4),
        per_case=True,
        spawner=opts.spawner or "",
    )
    if opts.warm and language.warm_runs and not job.get("simulate_missing"):
        # A forked judge has taken the job's nice already; the warm judge gives it to the cases
        nice = os.getpriority(os.PRIO_PROCESS, 0) + (
            int(job.get("nice") or 0) if opts.persistent else 0
        )
        try:
            grading = warm.Grading(
                opts.warm,
                spec.argv,
                spec.env,
                spec.files,
                confine.rlimits(spec.limits, spec.memory_kind, spec.memory_rlimit_mb),
                limits.wall_seconds,
                spec.work_mb * 1024,
                min(19, nice),
            )
            try:
                return _warm_cases(grading, language, limits, cases, used)
            finally:
                grading.close()
        except warm.Unavailable as exc:
            # (busy, or ended; before any case ran): the grading gets namespaces of its own
            if opts.persistent:
                raise runs.NeedsFork(str(exc)) from None
    if opts.persistent:
        raise runs.NeedsFork("a grading of its own namespaces")
    # Each case's wall-clock limit is kept inside; this bound is for a sandbox that stops answering
    whole = len(cases) * (limits.wall_seconds + 1) + 5
    child = runs.launch(job, opts, children, "exec", b"", spec, wall_seconds=whole)
    runs.await_ready(child)
    try:
        return [
            run_case(_pid_1_case(child, limits), language, limits, case, name)
            for case, name in cases
        ]
    finally:
        child.finish(0.5)


def _pid_1_case(child: runs.Child, limits: languages.Limits) -> Callable[[list[int]], dict]:
    """A case run by the grading's own pid 1 (sandbox.supervise.serve_cases)."""

    def run(fds: list[int]) -> dict[str, Any]:
        try:
            socket.send_fds(child.sock, [b"C"], fds)
        except OSError as exc:
            raise runs.SandboxFault(f"the sandbox stopped taking cases ({exc})") from None
        try:
            return wire.recv(child.sock, time.monotonic() + limits.wall_seconds + 5)
        except (EOFError, wire.Timeout, wire.ProtocolError, OSError) as exc:
            raise runs.SandboxFault(
                f"the sandbox did not say how a case ended ({type(exc).__name__})"
            ) from None

    return run


def _warm_cases(
    grading: warm.Grading,
    language: Language,
    limits: languages.Limits,
    cases: list[tuple[dict[str, Any], str]],
    used: dict[str, float],
) -> list[dict[str, Any]]:
    """The cases run by the warm supervisor (sandbox.warm), a batch a message; their CPU and peak memory added to
    `used`. A batch's outputs are held at once: at most about BATCH_OUTPUT_BYTES of them."""
    per_message = max(
        1, min(warm.BATCH, BATCH_OUTPUT_BYTES // (limits.output_kb * 1024 + STDERR_BYTES))
    )
    records = []
    for start in range(0, len(cases), per_message):
        group = cases[start : start + per_message]
        with case_files([case for case, _ in group]) as files:
            try:
                answered = grading.run(files)
            except ConnectionError as exc:
                raise runs.SandboxFault(str(exc)) from None
            # Fewer answers than cases only after one that says why (judged raises it)
            for (case, name), fds, ended in zip(group, files, answered, strict=False):
                used["cpu_seconds"] += ended["cpu_seconds"]
                used["maxrss_kb"] = max(used["maxrss_kb"], ended["maxrss_kb"])
                records.append(judged(language, limits, case, name, fds, ended))
    return records


@contextlib.contextmanager
def case_files(cases: list[dict[str, Any]]) -> Iterator[list[list[int]]]:
    """Each case's stdin, stdout and stderr, closed on leaving. In memory, never on a disk: stdin sealed (the
    program cannot change what it is given), stdout and stderr bounded by the output limit (RLIMIT_FSIZE holds for
    these files as for any)."""
    files: list[list[int]] = []
    try:
        for case in cases:
            fds: list[int] = []
            files.append(fds)
            stdin = os.memfd_create("stdin", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            fds.append(stdin)
            fds.append(os.memfd_create("stdout", os.MFD_CLOEXEC))
            fds.append(os.memfd_create("stderr", os.MFD_CLOEXEC))
            os.write(stdin, str(case.get("stdin", "")).encode())
            fcntl.fcntl(stdin, fcntl.F_ADD_SEALS, SEALED)
            os.lseek(stdin, 0, os.SEEK_SET)
        yield files
    finally:
        for fds in files:
            for fd in fds:
                os.close(fd)


def run_case(
    run: Callable[[list[int]], dict],
    language: Language,
    limits: languages.Limits,
    case: dict[str, Any],
    name: str,
) -> dict[str, Any]:
    """One case, run by `run` on its stdin, stdout and stderr; what it printed is compared here."""
    with case_files([case]) as [fds]:
        return judged(language, limits, case, name, fds, run(fds))


def judged(
    language: Language,
    limits: languages.Limits,
    case: dict[str, Any],
    name: str,
    fds: list[int],
    ended: dict[str, Any],
) -> dict[str, Any]:
    """A case's record from how it ended and what it left on its descriptors (case_files)."""
    if "setup_error" in ended:
        raise runs.SandboxFault(f"sandbox set-up failed: {ended['setup_error']}")
    hidden = bool(case.get("hidden"))
    record = {
        "name": name,
        "passed": False,
        "kind": "wrong",
        "hidden": hidden,
        "points": int(case.get("points", 1)),
        "message": "",
    }
    output_limit = limits.output_kb * 1024
    output = os.pread(fds[1], output_limit + 1, 0)
    stderr = os.pread(fds[2], STDERR_BYTES, 0).decode("utf-8", "replace")
    if ended["timed_out"]:
        if len(output) >= output_limit:
            record.update(kind="output", message="Output limit exceeded")
        else:
            record.update(kind="time", message="Time limit exceeded (wall-clock limit reached)")
    else:
        verdict = classify(
            language,
            limits,
            int(ended["status"]),
            float(ended["cpu_seconds"]),
            int(ended["maxrss_kb"]),
            len(output),
            stderr,
        )
        if verdict is not None:
            record.update(kind=verdict[0], message=verdict[1])
        else:
            got = runs.normalise(output.decode("utf-8", "replace"))
            expected = runs.normalise(str(case.get("stdout", "")))
            if got == expected:
                record.update(passed=True, kind="ok")
            else:
                record["message"] = f"Expected output:\n{expected[:800]}\nYour output:\n{got[:800]}"
    if hidden and not record["passed"]:
        record["message"] = runs.HIDDEN_MESSAGE
    return record


def applied_limits(limits: languages.Limits) -> dict[str, Any]:
    return {
        "cpu_seconds": round(limits.cpu_seconds, 3),
        "wall_seconds": round(limits.wall_seconds, 3),
        "memory_mb": limits.memory_mb,
        "output_kb": limits.output_kb,
    }


def run_native(
    job: dict[str, Any], opts: Any, children: list, cache: CompileCache | None
) -> dict[str, Any]:
    """Compile (or take the cache's) and run every case. Returns the judge's partial result: records, the
    problem that stopped grading (a compile error), the compile's figures and the limits that applied."""
    language = languages.get(job["language"], job.get("language_options") or {})
    try:
        toolchain = languages.toolchain(language.name)
    except languages.ToolchainMissing as exc:
        raise runs.SandboxFault(f"this worker cannot grade {language.title}: {exc}") from None
    compiled = compile_step(job, opts, children, language, toolchain, cache)
    limits = language.limits(job["limits"])
    figures = {
        "compile": {"cached": compiled.cached, "ms": compiled.ms, "ok": compiled.ok},
        "limits": applied_limits(limits),
    }
    if job.get("op") == "compile":
        return {"compiled": figures["compile"], "message": compiled.message}
    if not compiled.ok:
        return {
            "records": [],
            "problem": {"kind": "compile", "message": compiled.message},
            "stderr": language.diagnostics(compiled.diagnostics),
            **figures,
        }
    # The student's program on each I/O case, then the driver built with their code on each function test
    io_cases = [(case, f"io_case_{n}") for n, case in enumerate(job.get("io_cases") or [], 1)]
    function_tests = [
        (test, str(test.get("name") or f"test_{n}"))
        for n, test in enumerate(job.get("function_tests") or [], 1)
    ]
    args = (job, opts, children, language, toolchain, compiled, limits)
    used = {"cpu_seconds": 0.0, "maxrss_kb": 0}
    records = run_cases(*args, io_cases, "", used)
    records += run_cases(*args, function_tests, job.get("test_code") or "", used)
    return {"records": records, "problem": None, "warm_usage": used, **figures}
