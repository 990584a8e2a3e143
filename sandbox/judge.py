"""The judge: the trusted side of one grading. It launches confined children, runs the instructor's unittest
tests in its own process against a proxy `solution` module whose calls the sandbox answers with plain data,
compares I/O cases' output, and decides the verdict. It never runs student code and never trusts what the
sandbox says about itself beyond plain return values. Other languages than Python go through sandbox.native
(compile, then run the program per case); the verdict is decided here for every language.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import resource
import secrets
import signal
import sys
import time
import types
import unittest
from typing import Any

from gradeflow.vocabulary import Verdict
from sandbox import native as native_judge
from sandbox import wire
from sandbox.runs import (
    HIDDEN_MESSAGE,
    Child,
    Options,
    SandboxFault,
    await_ready,
    exit_signal,
    launch,
    normalise,
)

VERDICT_OF_KIND = {
    "syntax": Verdict.SYNTAX_ERROR,
    "compile": Verdict.COMPILE_ERROR,
    "runtime": Verdict.RUNTIME_ERROR,
    "memory": Verdict.MEMORY_LIMIT,
    "output": Verdict.OUTPUT_LIMIT,
    "time": Verdict.TIME_LIMIT,
    "wrong": Verdict.WRONG_ANSWER,
    "tests": Verdict.TEST_ERROR,
}
# When tests fail for different reasons, the verdict names the most fundamental one.
KIND_PRIORITY = ["time", "memory", "output", "runtime", "wrong"]


# --- talking to the sandbox ------------------------------------------------------------------------------------
class Gone(Exception):
    """The sandboxed program can no longer answer (it ended, ran out of time, or broke the protocol)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def ended(child: Child, cpu_seconds: float) -> Gone:
    """Why the program stopped answering, from how it ended (never from what it said)."""
    timed_out = time.monotonic() >= child.deadline
    status = child.finish(0.2)
    sig = exit_signal(status)
    # RLIMIT_CPU ends the run with SIGXCPU, or SIGKILL at the hard limit (a namespace's init ignores SIGXCPU).
    out_of_cpu = sig == signal.SIGXCPU or (
        sig == signal.SIGKILL and child.cpu_seconds >= cpu_seconds * 0.9
    )
    if timed_out or out_of_cpu:
        return Gone(
            "time",
            f"Time limit exceeded ({cpu_seconds:g} s CPU, wall-clock limit reached)"
            if timed_out
            else f"Time limit exceeded ({cpu_seconds:g} s CPU)",
        )
    if sig == signal.SIGXFSZ:
        return Gone("output", "Output limit exceeded")
    if sig is not None:
        return Gone("runtime", f"The program crashed ({signal.Signals(sig).name})")
    return Gone(
        "runtime", f"The program stopped before answering (exit code {os.WEXITSTATUS(status)})"
    )


class Remote:
    """The judge's end of the channel: every call is a request with a fresh id, answered by plain data."""

    def __init__(self, child: Child, cpu_seconds: float) -> None:
        self.child = child
        self.cpu_seconds = cpu_seconds
        self.gone: Gone | None = None
        # Calls made into the submission: after one, a failure may be the submission's doing
        self.calls = 0

    def receive(self) -> dict[str, Any]:
        if self.gone:
            raise self.gone
        try:
            return wire.recv(self.child.sock, self.child.deadline)
        except wire.Timeout:
            self.child.finish(0)
            self.gone = Gone("time", "Time limit exceeded (wall-clock limit reached)")
        except (EOFError, OSError):
            self.gone = ended(self.child, self.cpu_seconds)
        except wire.ProtocolError as exc:
            self.child.finish(0)
            self.gone = Gone("runtime", f"The program broke the grading protocol ({exc})")
        raise self.gone

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        if self.gone:
            raise self.gone
        self.calls += 1
        request_id = secrets.token_hex(8)
        try:
            frame = wire.pack(
                {
                    "id": request_id,
                    "call": name,
                    "args": wire.encode_value(list(args)),
                    "kwargs": wire.encode_value(kwargs),
                }
            )
        except wire.NotPlainData as exc:
            raise TypeError(f"test passes a non-plain argument to {name}: {exc}") from None
        try:
            self.child.sock.sendall(frame)
        except OSError:
            self.gone = ended(self.child, self.cpu_seconds)
            raise self.gone from None
        reply = self.receive()
        if reply.get("id") != request_id:
            self.child.finish(0)
            self.gone = Gone(
                "runtime", "The program broke the grading protocol (a reply to another request)"
            )
            raise self.gone
        if "error" in reply:
            raise remote_exception(reply["error"])
        try:
            return wire.decode_value(reply.get("ok"))
        except (wire.ProtocolError, RecursionError) as exc:
            self.child.finish(0)
            self.gone = Gone("runtime", f"The program broke the grading protocol ({exc})")
            raise self.gone from None


def remote_exception(info: Any) -> BaseException:
    """Re-raise the student's exception as the builtin type of that name, so `assertRaises(ValueError)` works."""
    if not isinstance(info, dict):
        return Gone("runtime", "The program broke the grading protocol (malformed error)")
    name, message = str(info.get("type", "Exception")), str(info.get("message", ""))[:2000]
    line = info.get("line")
    text = f"{message} (line {line})" if isinstance(line, int) else message
    base = getattr(builtins, name, None)
    if not (isinstance(base, type) and issubclass(base, Exception)) or issubclass(base, OSError):
        base = RuntimeError
    try:
        exc = base(text)
    except Exception:  # noqa: BLE001 - builtin exceptions with unusual signatures
        exc = RuntimeError(text)
    kind = info.get("kind")
    # A marker on a builtin exception instance (its type must stay the builtin, for assertRaises).
    exc.gradeflow_kind = kind if kind in VERDICT_OF_KIND else "runtime"  # type: ignore[attr-defined]
    return exc


def proxy_module(remote: Remote, manifest: dict[str, Any]) -> types.ModuleType:
    module = types.ModuleType("solution", "The submission, seen through the sandbox.")
    names = []
    for name, entry in manifest.items():
        if not isinstance(entry, dict) or not name.isidentifier():
            continue
        if entry.get("callable"):

            def call(*args, __name=name, **kwargs):
                return remote.call(__name, args, kwargs)

            call.__name__ = call.__qualname__ = name
            setattr(module, name, call)
        else:
            setattr(module, name, wire.decode_value(entry.get("value")))
        names.append(name)
    module.__dict__["__all__"] = names
    return module


# --- running the tests -----------------------------------------------------------------------------------------
def is_hidden(test: unittest.TestCase) -> bool:
    return type(test).__name__.startswith("Hidden") or getattr(
        test, "_testMethodName", ""
    ).startswith("test_hidden")


class Collecting(unittest.TestResult):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, Any]] = []

    def _add(self, test, passed: bool, kind: str, message: str) -> None:
        hidden = is_hidden(test)
        name = f"{type(test).__name__}.{getattr(test, '_testMethodName', str(test))}"
        self.records.append(
            {
                "name": name,
                "passed": passed,
                "kind": kind,
                "hidden": hidden,
                "points": 1,
                "message": "" if passed else (HIDDEN_MESSAGE if hidden else message[:2000]),
            }
        )

    def addSuccess(self, test):
        self._add(test, True, "ok", "")

    def addFailure(self, test, err):
        self._add(test, False, "wrong", str(err[1]))

    def addError(self, test, err):
        exc = err[1]
        if isinstance(exc, Gone):
            self._add(test, False, exc.kind, str(exc))
        else:
            kind = getattr(exc, "gradeflow_kind", "runtime")
            self._add(
                test,
                False,
                kind,
                f"{type(exc).__name__}: {exc}" if not hasattr(exc, "gradeflow_kind") else str(exc),
            )

    def addSubTest(self, test, subtest, err):
        if err is not None:
            (self.addFailure if issubclass(err[0], test.failureException) else self.addError)(
                subtest, err
            )

    def addSkip(self, test, reason):
        pass


def import_failed(kind: str, message: str) -> dict[str, Any]:
    """The record of a submission that failed while the tests imported it: one failed test, the student's."""
    return {
        "name": "import",
        "passed": False,
        "kind": kind,
        "hidden": False,
        "points": 1,
        "message": message,
    }


def unittest_part(
    job: dict, opts: Options, children: list[Child]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Run the unittest tests against one sandboxed import of the submission."""
    child = launch(job, opts, children, "serve")
    await_ready(child)
    remote = Remote(child, float(job["limits"]["cpu_seconds"]))
    try:
        hello = remote.receive()
    except Gone as gone:
        return [], {"kind": gone.kind, "message": str(gone)}
    if "import_error" in hello:
        info = hello["import_error"] if isinstance(hello["import_error"], dict) else {}
        kind = info.get("kind") if info.get("kind") in VERDICT_OF_KIND else "runtime"
        line = info.get("line")
        message = str(info.get("message", ""))[:2000] + (
            f" (line {line})" if isinstance(line, int) else ""
        )
        child.finish()
        return [], {"kind": kind, "message": message}
    module = proxy_module(remote, hello.get("manifest") or {})
    saved = sys.modules.get("solution")
    sys.modules["solution"] = module
    result = Collecting()
    try:
        tests_module = types.ModuleType("test_solution")
        try:
            exec(compile(job["test_code"], "test_solution.py", "exec"), tests_module.__dict__)
        except ImportError as exc:
            if exc.name != "solution":  # a module the judge does not have: the instructor's to fix
                child.finish()
                return [], broken_tests(exc)
            # the submission lacks what the tests import: the student's to fix
            result.records.append(import_failed("runtime", f"{type(exc).__name__}: {exc}"))
        except Gone as gone:
            result.records.append(import_failed(gone.kind, str(gone)))
        except Exception as exc:  # noqa: BLE001 - the tests fail while loading: whose doing is it?
            if not students_doing(exc, job["test_code"], module, remote):
                child.finish()
                return [], broken_tests(exc)
            result.records.append(
                import_failed(
                    "runtime", f"{type(exc).__name__}: {exc} (while the tests loaded your code)"
                )
            )
        else:
            suite = unittest.defaultTestLoader.loadTestsFromModule(tests_module)
            if suite.countTestCases() == 0 and not job.get("io_cases"):
                child.finish()
                return [], {
                    "kind": "tests",
                    "message": "The assignment's tests define no test methods (methods "
                    "named test_... in a unittest.TestCase class).",
                }
            suite.run(result)
            failed_to_load = [r for r in result.records if r["name"].startswith("_FailedTest.")]
            if failed_to_load:
                child.finish()
                return [], {
                    "kind": "tests",
                    "message": "The assignment's tests fail to load: "
                    + failed_to_load[0]["message"][:2000],
                }
    finally:
        if saved is None:
            sys.modules.pop("solution", None)
        else:
            sys.modules["solution"] = saved
    child.finish()
    return result.records, None


def star_imports_solution(test_code: str) -> bool:
    try:
        tree = ast.parse(test_code)
    except SyntaxError:
        return False
    return any(
        isinstance(node, ast.ImportFrom) and node.module == "solution" and node.names[0].name == "*"
        for node in ast.walk(tree)
    )


def students_doing(
    exc: BaseException, test_code: str, module: types.ModuleType, remote: Remote
) -> bool:
    """Whether an exception raised while the tests loaded comes from the submission rather than the tests: it
    came out of the submission's code; or it names a function the tests take from `from solution import *`
    and the submission lacks; or the tests had already called the submission (whose answers they may have
    used). Otherwise the tests fail to load whatever the submission is: the instructor's to fix."""
    if hasattr(exc, "gradeflow_kind"):
        return True
    if (
        isinstance(exc, NameError)
        and star_imports_solution(test_code)
        and not hasattr(module, exc.name or "")
    ):
        return True
    return remote.calls > 0


def broken_tests(exc: BaseException) -> dict[str, Any]:
    """An import problem that is the instructor's: the tests raised `exc` while loading. Names the line."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "test_solution.py":
            line = tb.tb_lineno
        tb = tb.tb_next
    where = f" (line {line} of the tests)" if line else ""
    return {
        "kind": "tests",
        "message": f"The assignment's tests fail to load: {type(exc).__name__}: "
        f"{str(exc)[:1500]}{where}",
    }


def io_case(
    job: dict, opts: Options, children: list[Child], number: int, case: dict[str, Any]
) -> dict[str, Any]:
    hidden = bool(case.get("hidden"))
    name = f"io_case_{number}"
    points = int(case.get("points", 1))
    child = launch(job, opts, children, "program", str(case.get("stdin", "")).encode())
    await_ready(child)
    record = {
        "name": name,
        "passed": False,
        "kind": "wrong",
        "hidden": hidden,
        "points": points,
        "message": "",
    }
    try:
        started = wire.recv(child.sock, child.deadline)
    except wire.Timeout:
        started = {}
    except (EOFError, OSError, wire.ProtocolError):
        started = {}
    if "import_error" in started:
        info = started["import_error"]
        record.update(kind="syntax", message=f"{info.get('message')} (line {info.get('line')})")
        child.finish()
        return record
    exited = child.wait(child.deadline - time.monotonic())
    if not exited:
        child.finish(0)
        record.update(kind="time", message="Time limit exceeded (wall-clock limit reached)")
        return record
    status = child.finish(0)
    sig = exit_signal(status)
    limit = int(job["limits"]["output_kb"]) * 1024
    output = child.read_stdout(limit + 1)
    # The last stderr line only words the message; pass or fail is decided by exit status and output alone.
    last_line = (child.excerpt("stderr").strip().splitlines() or [""])[-1]
    failed_exit = not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
    if sig == signal.SIGXCPU or (
        sig == signal.SIGKILL and child.cpu_seconds >= 0.9 * float(job["limits"]["cpu_seconds"])
    ):
        record.update(kind="time", message="Time limit exceeded")
    elif (
        sig == signal.SIGXFSZ or len(output) > limit or (failed_exit and "[Errno 27]" in last_line)
    ):
        record.update(kind="output", message="Output limit exceeded")
    elif failed_exit and last_line.startswith("MemoryError"):
        record.update(kind="memory", message="Memory limit exceeded")
    elif failed_exit:
        record.update(kind="runtime", message=last_line[:2000] or f"exit status {status}")
    else:
        got, expected = (
            normalise(output.decode("utf-8", "replace")),
            normalise(str(case.get("stdout", ""))),
        )
        if got == expected:
            record.update(passed=True, kind="ok")
        else:
            record["message"] = f"Expected output:\n{expected[:800]}\nYour output:\n{got[:800]}"
    if hidden and not record["passed"]:
        record["message"] = HIDDEN_MESSAGE
    return record


LINE = re.compile(r"\(line (\d+)\)")


def limit_words(kind: str, limits: dict[str, Any], message: str) -> str:
    """A limit the program hit, in the words and units the assignment set (the line it was on, if known), instead
    of what the interpreter said ("OSError: [Errno 27] File too large")."""
    words = {
        "time": f"Your program ran out of time: this assignment allows {float(limits['cpu_seconds']):g} s "
        f"of CPU ({float(limits['wall_seconds']):g} s in all) per run.",
        "memory": f"Your program needed more memory than the {int(limits['memory_mb'])} MiB this "
        "assignment allows.",
        "output": f"Your program printed more than {int(limits['output_kb'])} KiB, this assignment's "
        "output limit: print only what is asked.",
    }.get(kind)
    if words is None or message == HIDDEN_MESSAGE:
        return message
    line = LINE.search(message)
    return f"{words[:-1]} (line {line.group(1)})." if line else words


def decide(records: list[dict[str, Any]], import_problem: dict[str, Any] | None) -> tuple[str, str]:
    if import_problem:
        return VERDICT_OF_KIND[import_problem["kind"]], import_problem["message"]
    if not records:
        return Verdict.INTERNAL_ERROR, "The assignment has no tests."
    failed = [r for r in records if not r["passed"]]
    if not failed:
        return Verdict.PASSED, ""
    worst = min(
        failed, key=lambda r: KIND_PRIORITY.index(r["kind"]) if r["kind"] in KIND_PRIORITY else 99
    )
    return VERDICT_OF_KIND.get(worst["kind"], Verdict.RUNTIME_ERROR), worst["message"]


def own_cpu_ms(opts: Options) -> float:
    """The judge's CPU so far: its process's (a judge forked for the job), or its thread's (the warm judge)."""
    u = resource.getrusage(resource.RUSAGE_THREAD if opts.persistent else resource.RUSAGE_SELF)
    return (u.ru_utime + u.ru_stime) * 1000


def run_job(job: dict, opts: Options) -> dict[str, Any]:
    """Grade one job; returns the result, or {"sandbox_error": ...} for an infrastructure fault."""
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_cpu_before = own_cpu_ms(opts)
    records: list[dict[str, Any]] = []
    import_problem = None
    excerpts = {"stdout": "", "stderr": ""}
    children: list[Child] = []
    native = (job.get("language") or "python") != "python"
    figures: dict[str, Any] = {}
    # What ran outside the judge's children (the warm supervisor's cases): CPU seconds and peak memory
    warm_usage = {"cpu_seconds": 0.0, "maxrss_kb": 0}
    limits = job["limits"]
    try:
        if native:
            part = native_judge.run_native(job, opts, children, opts.cache)
            if "compiled" in part:  # the compile step alone
                return part
            records, import_problem = part["records"], part["problem"]
            warm_usage = part.get("warm_usage") or warm_usage
            figures = {"compile": part["compile"], "limits": part["limits"]}
            limits = part["limits"]  # the limits that applied (the language's time factor included)
            if import_problem is not None:
                excerpts = {"stdout": "", "stderr": part["stderr"]}
            if records:  # the excerpts below are the first run's output, not the compiler's
                children = children[-len(records) :] + children[: -len(records)]
        elif job.get("test_code"):
            records, import_problem = unittest_part(job, opts, children)
        if import_problem is None and not native:
            for number, case in enumerate(job.get("io_cases") or [], start=1):
                record = io_case(job, opts, children, number, case)
                records.append(record)
                if record["kind"] == "syntax":
                    import_problem = {"kind": "syntax", "message": record["message"]}
                    break
    except SandboxFault as exc:
        return {"sandbox_error": str(exc)}
    finally:
        if children and not (native and import_problem is not None):
            excerpts = {name: children[0].excerpt(name) for name in excerpts}
        for child in children:
            child.cleanup()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    for problem in [*records, *([import_problem] if import_problem else [])]:
        problem["message"] = limit_words(problem["kind"], limits, problem["message"])
    verdict, message = decide(records, import_problem)
    for r in records:
        r.pop("kind", None)
    return {
        "verdict": verdict,
        "message": message,
        "tests": records,
        **excerpts,
        "cpu_ms": int(
            (
                usage.ru_utime
                - before.ru_utime
                + usage.ru_stime
                - before.ru_stime
                + warm_usage["cpu_seconds"]
            )
            * 1000
        ),
        # The judge's own CPU: a forked judge starts from zero, a fresh one includes its interpreter start-up, the
        # warm judge's thread counts from the job's start.
        "judge_cpu_ms": int(
            own_cpu_ms(opts) - own_cpu_before if opts.persistent else own_cpu_ms(opts)
        ),
        "wall_ms": int((time.monotonic() - started) * 1000),
        "peak_memory_kb": int(max(usage.ru_maxrss, warm_usage["maxrss_kb"])),
        "sandbox": opts.mode,
        **figures,
    }
