"""The sandbox under both the fork server and the fresh-interpreter fallback: verdicts, plain-data calls, I/O
cases, every attack of SANDBOX.md, parallel runs, and the refusal when isolation is missing."""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from pathlib import Path

import pytest

from gradeflow.launch.seed_course import COURSE
from sandbox import DEFAULT_LIMITS, IsolationUnavailable, Sandbox, warm
from sandbox.confine import UID_BASE
from tests.conftest import wait_for
from tests.sandbox.attacks import ATTACKS, Attack
from tests.sandbox.conftest import ADD_TESTS, CORRECT_ADD, FAST, Grader, ports_nobody_may_reach

SECRET = f"canary-{uuid.uuid4().hex}"
os.environ["GRADEFLOW_CANARY_SECRET"] = SECRET  # in the test process; the sandbox must never see it
ROOT = Path(__file__).resolve().parents[2]


def run_processes() -> list[int]:
    """Processes of any run still alive (runs use uids from UID_BASE up; a warm supervisor, which lives as long
    as its server, is no run: its cases are)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid_line = next(
                    line
                    for line in (entry / "status").read_text().splitlines()
                    if line.startswith("Uid:")
                )
            except (OSError, StopIteration):
                continue
            uid = int(uid_line.split()[1])
            if uid >= UID_BASE and not warm.supervisor_uid(uid):
                alive.append(int(entry.name))
    return alive


def leftovers() -> list[str]:
    return [str(p) for p in Path("/tmp").glob("gradeflow-sandbox-*/run-*")]


def assert_nothing_outlived_the_run() -> None:
    wait_for(lambda: not run_processes(), 5, "every sandboxed process of the run to exit")
    wait_for(lambda: not leftovers(), 5, "the run's files to be removed")


def test_correct_solution_passes(grader: Grader):
    result = grader.grade(CORRECT_ADD)
    assert result.verdict == "passed", result
    assert [t["passed"] for t in result.tests] == [True, True, True]
    assert result.sandbox == grader.mode
    assert result.cpu_ms >= 0 and result.peak_memory_kb > 0


@pytest.mark.parametrize(
    "style",
    ["import solution\nadd = solution.add", "from solution import add", "from solution import *"],
)
def test_every_import_style_works(forkserver: Grader, style: str):
    tests = ADD_TESTS.replace("from solution import add", style)
    assert forkserver.grade(CORRECT_ADD, tests).verdict == "passed"


def test_plain_data_round_trips_and_exceptions_keep_their_type(forkserver: Grader):
    code = (
        "def pair(a):\n    return (a, [a], {a}, {1: 'one', (1, 2): None}, 1.5, None, True)\n"
        "def check(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x\n"
        "def add(a, b):\n    return a + b\nLIMIT = {'max': 3}\n"
    )
    tests = (
        "import unittest\nimport solution\n\nclass T(unittest.TestCase):\n"
        "    def test_containers(self):\n"
        "        self.assertEqual(solution.pair(2), (2, [2], {2}, {1: 'one', (1, 2): None}, 1.5, None, True))\n"
        "    def test_raises(self):\n        with self.assertRaises(ValueError):\n            solution.check(-1)\n"
        "    def test_constant(self):\n        self.assertEqual(solution.LIMIT, {'max': 3})\n"
    )
    result = forkserver.grade(code, tests)
    assert result.verdict == "passed", result.tests


@pytest.mark.parametrize(
    "code,verdict,fragment",
    [
        ("def add(a, b):\n    return a - b\n", "wrong_answer", " != "),
        ("x = 1\ndef add(a, b:\n    return a\n", "syntax_error", "line 2"),
        (
            "def add(a, b):\n    return a / 0\n",
            "runtime_error",
            "ZeroDivisionError: division by zero (line 2)",
        ),
        ("x = [1]\nx[5]\n", "runtime_error", "IndexError: list index out of range (line 2)"),
        (
            "def add(a, b):\n    while True:\n        pass\n",
            "time_limit",
            "Your program ran out of time: this assignment allows 1 s of CPU (2 s in all) per run.",
        ),
        (
            "def add(a, b):\n    return bytearray(10 ** 9)\n",
            "memory_limit",
            "Your program needed more memory than the 256 MiB this assignment allows (line 2).",
        ),
        (
            "def add(a, b):\n    print('x' * 10 ** 6)\n",
            "output_limit",
            "Your program printed more than 64 KiB, this assignment's output limit: print only what "
            "is asked (line 2).",
        ),
    ],
)
def test_verdicts_students_can_act_on(grader: Grader, code: str, verdict: str, fragment: str):
    result = grader.grade(code)
    assert result.verdict == verdict, result
    assert fragment in result.message, result.message


def test_hidden_tests_show_only_pass_or_fail(forkserver: Grader):
    tests = (
        ADD_TESTS + "\n\nclass HiddenEdgeCases(unittest.TestCase):\n    def test_zero(self):\n"
        "        self.assertEqual(add(0, 0), 1)\n"
    )
    result = forkserver.grade(CORRECT_ADD, tests)
    hidden = [t for t in result.tests if t["hidden"]]
    assert [(t["passed"], t["message"]) for t in hidden] == [(False, "hidden test")]
    assert result.verdict == "wrong_answer" and "!= 1" not in result.message


IO_CASES = [
    {"stdin": "2 3\n", "stdout": "5\n", "points": 1, "hidden": False},
    {"stdin": "10 -4", "stdout": "6", "points": 2, "hidden": True},
]


def test_io_cases_compare_output_outside(grader: Grader):
    ok = grader.grade(
        "a, b = map(int, input().split())\nprint(a + b, '  ')\n", tests="", io_cases=IO_CASES
    )
    assert ok.verdict == "passed", ok.tests
    assert [t["points"] for t in ok.tests] == [1, 2]
    wrong = grader.grade(
        "a, b = map(int, input().split())\nprint(a * b)\n", tests="", io_cases=IO_CASES
    )
    assert wrong.verdict == "wrong_answer"
    assert "Expected output:\n5\nYour output:\n6" in wrong.tests[0]["message"]
    assert wrong.tests[1]["message"] == "hidden test"
    crash = grader.grade("raise KeyError('k')\n", tests="", io_cases=IO_CASES[:1])
    assert crash.verdict == "runtime_error" and "KeyError" in crash.message
    faked = grader.grade(
        "import os\nos.write(1, b'5\\n')\nos._exit(0)\n", tests="", io_cases=IO_CASES[:1]
    )
    assert faked.verdict == "passed", "right output is right, however it was produced"
    syntax = grader.grade("print(\n", tests="", io_cases=IO_CASES)
    assert syntax.verdict == "syntax_error"


def attack_context(listeners: list[socket.socket]) -> dict:
    return {
        "redis_port": listeners[0].getsockname()[1],
        "postgres_port": listeners[1].getsockname()[1],
        "project_file": str(ROOT / "gradeflow" / "seed_course.py"),
        "tests_file": __file__,
        "secret": SECRET,
    }


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_is_contained(grader: Grader, attack: Attack):
    with ports_nobody_may_reach() as listeners:
        ctx = attack_context(listeners)
        result = grader.grade(attack.code.format(**ctx))
        assert result.verdict != "passed"
        assert result.verdict in attack.verdicts, (result.verdict, result.message)
        attack.check(dataclasses.asdict(result), ctx)
    assert_nothing_outlived_the_run()
    assert grader.grade(CORRECT_ADD).verdict == "passed", (
        "the grader must keep working after an attack"
    )


def test_parallel_runs_do_not_disturb_each_other(grader: Grader):
    n = 2 * (os.cpu_count() or 1)
    hostile = {a.name: a.code for a in ATTACKS}
    attacks = [
        hostile["kill_the_parent_and_everyone"],
        hostile["memory_bomb"],
        hostile["forge_results_on_every_fd"],
        hostile["busy_non_daemon_threads"],
    ]
    codes = [CORRECT_ADD] * n + [attacks[i % len(attacks)] for i in range(n)]
    results = grader.grade_many(codes, limits={**FAST, "wall_seconds": 5})
    assert [r.verdict for r in results[:n]] == ["passed"] * n
    assert all(r.verdict != "passed" for r in results[n:])
    assert_nothing_outlived_the_run()


@pytest.mark.parametrize("assignment", COURSE, ids=lambda a: a.slug)
def test_every_seed_reference_solution_passes(forkserver: Grader, assignment):
    result = forkserver.grade(assignment.reference_solution, assignment.test_code, DEFAULT_LIMITS)
    assert result.verdict == "passed", result


@pytest.mark.parametrize(
    "missing",
    ["seccomp", "user namespace", "pid namespace", "network namespace", "mount namespace"],
)
def test_missing_isolation_is_refused_with_what_is_missing(loop, missing: str):
    with pytest.raises(IsolationUnavailable) as err:
        loop.run(Sandbox("forkserver", simulate_missing=missing).start())
    message = str(err.value)
    assert "refuses to grade" in message
    assert f"{missing} failed" in message
    assert "GRADEFLOW_UNSAFE_GRADING" in message


def test_unsafe_mode_says_so_on_every_result(loop):
    sandbox = loop.run(Sandbox(unsafe=True).start())
    try:
        grader = Grader(loop, sandbox)
        result = grader.grade(CORRECT_ADD)
    finally:
        loop.run(sandbox.close())
    assert result.verdict == "passed" and result.sandbox == "unsafe"
    assert result.message.startswith("UNSAFE: graded WITHOUT isolation")


def test_a_dead_fork_server_is_restarted_by_the_next_grading(loop):
    sandbox = loop.run(Sandbox("forkserver").start())
    try:
        grader = Grader(loop, sandbox)
        first_pid = sandbox._server.pid
        os.kill(first_pid, 9)
        wait_for(
            lambda: sandbox._server.returncode is not None,
            10,
            "the killed fork server to be reaped",
        )
        assert grader.grade(CORRECT_ADD).verdict == "passed"
        assert sandbox._server.pid != first_pid
    finally:
        loop.run(sandbox.close())


def test_a_killed_workers_run_files_are_swept_at_the_next_start(loop, tmp_path):
    import subprocess
    import tempfile

    dead = subprocess.Popen(["true"])
    dead.wait()
    abandoned = Path(tempfile.mkdtemp(prefix="gradeflow-sandbox-"))
    (abandoned / "owner.pid").write_text(str(dead.pid))
    (abandoned / "run-leftover").mkdir()
    sandbox = loop.run(Sandbox("forkserver").start())
    try:
        assert not abandoned.exists()
        assert Path(sandbox._dir).exists(), "a live worker's directory is kept"
    finally:
        loop.run(sandbox.close())


# Whose doing is a failure while the tests load? The instructor's (test_error: never retried, never scored) only
# when the tests would fail whatever the submission is.
LOADS = (
    "import unittest\nfrom solution import add\n{body}\nclass T(unittest.TestCase):\n    def test_add(self):\n"
    "        self.assertEqual(add(1, 2), 3)\n"
)


@pytest.mark.parametrize(
    "tests, verdict, message",
    [
        (
            LOADS.format(body="BASE = undefined_helper(1)"),
            "test_error",
            "The assignment's tests fail to load: NameError: name 'undefined_helper' is not defined (line 3 of the tests)",
        ),
        (
            LOADS.format(body="import gradeflow_no_such_module"),
            "test_error",
            "The assignment's tests fail to load: ModuleNotFoundError: No module named 'gradeflow_no_such_module' "
            "(line 3 of the tests)",
        ),
        (
            "import unittest\nclass T(unittest.TestCase):\n    pass\n",
            "test_error",
            "The assignment's tests define no test methods",
        ),
        # the submission's answer used at load time: the submission's doing
        (
            LOADS.format(body="BASE = add(1, 2) + 'x'"),
            "runtime_error",
            "TypeError: unsupported operand",
        ),
        # `from solution import *` and the submission lacks the function: the submission's doing
        (
            LOADS.replace("from solution import add", "from solution import *").format(
                body="BASE = sub(1, 2)"
            ),
            "runtime_error",
            "NameError: name 'sub' is not defined (while the tests loaded your code)",
        ),
    ],
)
def test_a_failure_while_the_tests_load_is_told_apart(
    forkserver: Grader, tests: str, verdict: str, message: str
):
    result = forkserver.grade(CORRECT_ADD, tests=tests)
    assert result.verdict == verdict, result
    assert result.message.startswith(message), result.message


def test_the_submission_raising_while_the_tests_load_is_its_runtime_error(forkserver: Grader):
    result = forkserver.grade(
        "def add(a, b):\n    raise ValueError('nope')\n",
        tests=LOADS.format(body="BASE = add(1, 2)"),
    )
    assert result.verdict == "runtime_error", result
    assert "nope" in result.message
