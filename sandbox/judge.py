"""The judge: the trusted side of one grading. It launches confined children, runs the instructor's unittest
tests in its own process against a proxy `solution` module whose calls the sandbox answers with plain data,
compares I/O cases' output, and decides the verdict. It never runs student code and never trusts what the
sandbox says about itself beyond plain return values.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import resource
import secrets
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
import types
import unittest
from dataclasses import dataclass
from typing import Any

from gradeflow.vocabulary import Verdict
from sandbox import confine, inside, wire

SETUP_FAILED = 121
EXCERPT_BYTES = 4096
VERDICT_OF_KIND = {
    "syntax": Verdict.SYNTAX_ERROR,
    "runtime": Verdict.RUNTIME_ERROR,
    "memory": Verdict.MEMORY_LIMIT,
    "output": Verdict.OUTPUT_LIMIT,
    "time": Verdict.TIME_LIMIT,
    "wrong": Verdict.WRONG_ANSWER,
    "tests": Verdict.TEST_ERROR,
}
# When tests fail for different reasons, the verdict names the most fundamental one.
KIND_PRIORITY = ["time", "memory", "output", "runtime", "wrong"]
HIDDEN_MESSAGE = "hidden test"


class SandboxFault(RuntimeError):
    """The sandbox itself failed (set-up, lost child): an infrastructure fault, never the student's doing."""


@dataclass
class Options:
    mode: str  # "forkserver", "fresh" or "unsafe"
    readable: list[str]
    runs_dir: str
    simulate_missing: str | None = None

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

    def excerpt(self, name: str) -> str:
        try:
            with open(os.path.join(self.tmpdir, name), "rb") as f:
                data = f.read(EXCERPT_BYTES + 1)
        except FileNotFoundError:
            return ""
        text = data[:EXCERPT_BYTES].decode("utf-8", "replace")
        return text + "\n… (truncated)" if len(data) > EXCERPT_BYTES else text

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
            # The namespace's init dies with it (PDEATHSIG), and all inside
            os.kill(self.pid, signal.SIGKILL)
        _, self.status, usage = os.wait4(self.pid, 0)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
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
    """The signal that ended the sandboxed program: the confined child re-reports its init's signal as 128+n."""
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status)
    code = os.WEXITSTATUS(status)
    return code - 128 if 128 < code < 160 else None


def launch(job: dict, opts: Options, children: list[Child], mode: str, stdin: bytes = b"") -> Child:
    """Fork one confined child; it joins `children` at once so its files are removed whatever happens."""
    limits = job["limits"]
    tmpdir = tempfile.mkdtemp(prefix="run-", dir=opts.runs_dir)
    with open(os.path.join(tmpdir, "stdin"), "wb") as f:
        f.write(stdin)
    judge_end, sandbox_end = socket.socketpair()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        _child(job, opts, mode, tmpdir, sandbox_end)
    sandbox_end.close()
    child = Child(pid, judge_end, tmpdir, started, started + float(limits["wall_seconds"]))
    children.append(child)
    return child


def _child(
    job: dict, opts: Options, mode: str, tmpdir: str, channel: socket.socket
) -> None:  # pragma: no cover
    """The confined side. Set-up failures are reported on the channel before any student code runs."""
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
        os.setsid()  # its own session: a kill(-pgrp) from inside reaches only the run
        code = job["code"].encode()
        limits = job["limits"]
        if opts.unsafe:
            work = os.path.join(tmpdir, "work")
            os.mkdir(work)
            with open(os.path.join(work, inside.SOURCE), "wb") as f:
                f.write(code)
            os.chdir(work)
            confine.set_limits(limits)
        else:
            uid = confine.UID_BASE + os.getppid()  # unique while this judge lives
            # For the uid map, after the pivot
            proc_self = os.open("/proc/self", os.O_PATH | os.O_DIRECTORY)
            confine.private_mount_namespace(opts.simulate_missing)
            work_mb = max(1, int(limits["output_kb"]) // 1024 + 4)
            confine.build_root(opts.readable, {inside.SOURCE: code}, work_mb, owner=uid)
            confine.become_run_user(uid)
            confine.enter_namespaces(uid, proc_self, opts.simulate_missing)
            os.close(proc_self)
            init = os.fork()  # pid 1 of the new pid namespace
            if init:
                for fd in (0, 1, 2, inside.CHANNEL_FD):
                    os.close(fd)
                _, status = os.waitpid(init, 0)
                os._exit(
                    128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                )
            confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
            os.setsid()  # its own session and group: kill(0) from inside cannot reach the monitor outside
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


# --- talking to the sandbox ------------------------------------------------------------------------------------
class Gone(Exception):
    """The sandboxed program can no longer answer (it ended, ran out of time, or broke the protocol)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


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


def normalise(text: str) -> str:
    """Output comparison ignores trailing whitespace on each line and trailing blank lines."""
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


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


def run_job(job: dict, opts: Options) -> dict[str, Any]:
    """Grade one job; returns the result, or {"sandbox_error": ...} for an infrastructure fault."""
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    records: list[dict[str, Any]] = []
    import_problem = None
    excerpts = {"stdout": "", "stderr": ""}
    children: list[Child] = []
    try:
        if job.get("test_code"):
            records, import_problem = unittest_part(job, opts, children)
        if import_problem is None:
            for number, case in enumerate(job.get("io_cases") or [], start=1):
                record = io_case(job, opts, children, number, case)
                records.append(record)
                if record["kind"] == "syntax":
                    import_problem = {"kind": "syntax", "message": record["message"]}
                    break
    except SandboxFault as exc:
        return {"sandbox_error": str(exc)}
    finally:
        if children:
            excerpts = {name: children[0].excerpt(name) for name in excerpts}
        for child in children:
            child.cleanup()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    for problem in [*records, *([import_problem] if import_problem else [])]:
        problem["message"] = limit_words(problem["kind"], job["limits"], problem["message"])
    verdict, message = decide(records, import_problem)
    for r in records:
        r.pop("kind", None)
    return {
        "verdict": verdict,
        "message": message,
        "tests": records,
        **excerpts,
        "cpu_ms": int((usage.ru_utime - before.ru_utime + usage.ru_stime - before.ru_stime) * 1000),
        # The judge's own CPU: a forked judge starts from zero, a fresh one includes its interpreter start-up.
        "judge_cpu_ms": int(
            (lambda u: (u.ru_utime + u.ru_stime) * 1000)(resource.getrusage(resource.RUSAGE_SELF))
        ),
        "wall_ms": int((time.monotonic() - started) * 1000),
        "peak_memory_kb": int(usage.ru_maxrss),
        "sandbox": opts.mode,
    }
