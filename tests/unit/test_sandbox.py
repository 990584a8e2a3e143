"""The grading function (`run_in_sandbox`): real child processes, one verdict per kind of failure."""

from __future__ import annotations

import asyncio

import pytest

from activities.sandbox import SandboxJob, run_in_sandbox
from gradeflow.seed_course import COURSE

HELLO_TESTS = next(a for a in COURSE if a.slug == "hello").test_code
FAST = {"cpu_seconds": 1, "wall_seconds": 2, "memory_mb": 256, "output_kb": 64}


def grade(code: str, tests: str = HELLO_TESTS, limits: dict | None = None):
    return asyncio.run(run_in_sandbox(SandboxJob(code=code, test_code=tests, limits=limits or FAST)))


@pytest.mark.parametrize("assignment", COURSE, ids=lambda a: a.slug)
def test_every_seed_reference_solution_passes(assignment):
    from activities.sandbox import DEFAULT_LIMITS

    result = grade(assignment.reference_solution, assignment.test_code, DEFAULT_LIMITS)
    assert result.verdict == "passed", result
    assert result.tests and all(t["passed"] for t in result.tests)


def test_wrong_answer_names_the_failing_test():
    result = grade("def hello():\n    return 'Hi'\n")
    assert result.verdict == "wrong_answer"
    assert result.tests == [{"name": "TestHello.test_returns_hello", "passed": False,
                             "message": "'Hi' != 'Hello'\n- Hi\n+ Hello\n"}]


def test_syntax_error_gives_the_line():
    result = grade("x = 1\ndef hello(:\n    return 'Hello'\n")
    assert result.verdict == "syntax_error"
    assert "line 2" in result.message


def test_runtime_error_at_import_gives_exception_and_line():
    result = grade("x = 1\nraise ValueError('boom')\n")
    assert result.verdict == "runtime_error"
    assert result.message == "ValueError: boom (line 2)"


def test_runtime_error_inside_a_test():
    result = grade("def hello():\n    return 1 / 0\n")
    assert result.verdict == "runtime_error"
    assert result.tests[0]["passed"] is False
    assert result.tests[0]["message"].startswith("ZeroDivisionError: division by zero (line 2)")


@pytest.mark.parametrize("code", ["while True:\n    pass\n", "import time\ntime.sleep(60)\n"],
                         ids=["cpu", "sleep"])
def test_time_limit(code):
    result = grade(code)
    assert result.verdict == "time_limit"
    assert result.wall_ms < 5000


def test_memory_limit():
    assert grade("data = bytearray(1024 ** 3)\n").verdict == "memory_limit"


def test_output_limit():
    result = grade("print('x' * 10 ** 7)\n")
    assert result.verdict == "output_limit"
    assert len(result.stdout) <= 4096 + 20


def test_exiting_early_is_not_a_pass():
    for code in ("import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n"):
        result = grade(code)
        assert result.verdict == "runtime_error", code
        assert not result.passed


def test_the_child_sees_an_empty_environment(monkeypatch):
    monkeypatch.setenv("GRADEFLOW_SECRET_FOR_TEST", "s3cret")
    tests = HELLO_TESTS + "\n\nclass TestEnv(unittest.TestCase):\n    def test_env(self):\n" \
                          "        import os\n        self.assertEqual(dict(os.environ), {})\n"
    result = grade("def hello():\n    return 'Hello'\n", tests)
    assert result.verdict == "passed", result.tests


def test_usage_is_measured():
    result = grade("x = sum(range(3_000_000))\ndef hello():\n    return 'Hello'\n")
    assert result.verdict == "passed"
    assert result.cpu_ms > 0 and result.wall_ms >= result.cpu_ms // 2 and result.peak_memory_kb > 1000
