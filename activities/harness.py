"""Runs inside the grading child: limits itself, imports the submission, runs the unittest tests, writes results.

Walking-skeleton grader (issue #2): the tests run in the same process as the student's code, so a malicious
submission could forge this file. Issue #3 replaces it with a judge outside the sandbox.
"""

import ctypes
import errno
import json
import os
import resource
import signal
import sys
import traceback
import unittest

MESSAGE_LIMIT = 2000


def limit_self(limits: dict) -> None:
    cpu = max(1, int(limits["cpu_seconds"] + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(limits["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    output = int(limits["output_kb"]) * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Die with the worker: a killed worker must not leave student code running.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def short(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "…"


def solution_line(tb) -> int | None:
    line = None
    for frame in traceback.extract_tb(tb):
        if frame.filename.endswith("solution.py") and not frame.filename.endswith("test_solution.py"):
            line = frame.lineno
    return line


def output_exceeded(exc: BaseException) -> bool:
    # Python ignores SIGXFSZ, so RLIMIT_FSIZE shows up as EFBIG on the write that crosses it.
    return isinstance(exc, OSError) and exc.errno == errno.EFBIG


def describe(exc: BaseException) -> str:
    where = solution_line(exc.__traceback__)
    text = f"{type(exc).__name__}: {exc}"
    return short(f"{text} (line {where})" if where else text)


class CollectingResult(unittest.TestResult):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict] = []

    def _name(self, test) -> str:
        return f"{type(test).__name__}.{getattr(test, '_testMethodName', str(test))}"

    def addSuccess(self, test):
        self.records.append({"name": self._name(test), "passed": True, "message": "", "kind": "ok"})

    def addFailure(self, test, err):
        self.records.append({"name": self._name(test), "passed": False, "message": short(str(err[1])),
                             "kind": "failure"})

    def addError(self, test, err):
        kind = "memory" if issubclass(err[0], MemoryError) else "output" if output_exceeded(err[1]) else "error"
        self.records.append({"name": self._name(test), "passed": False, "message": describe(err[1]),
                             "kind": kind})


def main() -> None:
    workdir, result_path = sys.argv[1], sys.argv[2]
    with open(f"{workdir}/limits.json") as f:
        limits = json.load(f)
    limit_self(limits)
    os.environ.clear()  # the child starts with env={}, but Python's locale coercion adds LC_CTYPE
    sys.path.insert(0, workdir)
    outcome: dict = {"import_error": None, "tests": []}
    try:
        import solution  # noqa: F401  (the student's code)
    except SyntaxError as exc:
        outcome["import_error"] = {"verdict": "syntax_error",
                                   "message": short(f"SyntaxError: {exc.msg} (line {exc.lineno})")}
    except MemoryError:
        outcome["import_error"] = {"verdict": "memory_limit", "message": "MemoryError while importing"}
    except BaseException as exc:  # noqa: BLE001 - anything the student's code raises is a result
        verdict = "output_limit" if output_exceeded(exc) else "runtime_error"
        outcome["import_error"] = {"verdict": verdict, "message": describe(exc)}
    if outcome["import_error"] is None:
        suite = unittest.defaultTestLoader.loadTestsFromName("test_solution")
        result = CollectingResult()
        suite.run(result)
        outcome["tests"] = result.records
    with open(result_path, "w") as f:
        json.dump(outcome, f)


if __name__ == "__main__":
    main()
