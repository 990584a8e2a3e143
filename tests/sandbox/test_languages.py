"""C, C++, Java and JavaScript in the real sandbox: the verdicts a student's program earns, function tests through
the instructor's driver (expected values never enter the sandbox), the compile step and its cache, and every native
attack of SANDBOX.md contained. A language whose toolchain this machine lacks is skipped, naming what is missing."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import uuid
from pathlib import Path

import pytest

from gradeflow import languages
from gradeflow.launch.seed_languages import LANGUAGE_COURSE
from gradeflow.limits import DEFAULT_LIMITS
from sandbox import SandboxJob, SandboxResult, warm
from sandbox.compile_cache import SUFFIX
from tests.conftest import wait_for
from tests.sandbox.conftest import NativeGrader, ports_nobody_may_reach
from tests.sandbox.native_attacks import ATTACKS, COMPILE_ATTACKS, NativeAttack
from tests.sandbox.programs import COMPILED, FUNCTION_TESTS, PROGRAMS, SUM_CASES, needs
from tests.sandbox.test_sandbox import (
    ROOT,
    SECRET,
    assert_nothing_outlived_the_run,
    run_processes,
)
from tests.sandbox.test_warm import processes, uid_of

LIMITS = {"cpu_seconds": 1, "wall_seconds": 3, "memory_mb": 128, "output_kb": 64}


def grade(native: NativeGrader, language: str, code: str, **job) -> object:
    needs(language)
    job.setdefault("io_cases", SUM_CASES)
    job.setdefault("limits", LIMITS)
    return native.run(SandboxJob(code=code, language=language, **job))


def entries(native: NativeGrader) -> set[str]:
    return {p.name for p in Path(native.cache_dir).glob(f"*{SUFFIX}")}


@pytest.mark.parametrize("language", COMPILED)
def test_a_right_program_passes_and_a_wrong_one_is_told_what_differs(native, language):
    right = grade(native, language, PROGRAMS[language]["right"])
    assert right.verdict == "passed", (right.message, right.tests)
    assert [t["points"] for t in right.tests] == [1, 2]
    assert right.compile["ok"] is True
    wrong = grade(native, language, PROGRAMS[language]["wrong"])
    assert wrong.verdict == "wrong_answer"
    assert "Expected output:\n5\nYour output:\n" in wrong.tests[0]["message"]


@pytest.mark.parametrize("language", COMPILED)
def test_a_compile_error_shows_the_diagnostic_line_without_sandbox_paths(native, language):
    result = grade(native, language, PROGRAMS[language]["compile_error"])
    assert result.verdict == "compile_error", result.message
    source = languages.get(language).source_name
    assert source in result.message and "error" in result.message.lower(), result.message
    assert ":3" in result.message or ":1" in result.message, "the diagnostic names the line"
    assert "/work/" not in result.message and "/work/" not in result.stderr
    assert result.tests == []


@pytest.mark.parametrize("language", COMPILED)
@pytest.mark.parametrize(
    ("program", "verdict", "words"),
    [
        ("time_limit", "time_limit", "ran out of time"),
        ("memory_limit", "memory_limit", "more memory than the 128 MiB"),
        ("output_limit", "output_limit", "printed more than 64 KiB"),
        ("segfault", "runtime_error", "SIGSEGV"),
    ],
)
def test_a_program_that_breaks_a_limit_or_crashes_is_told_which(
    native, language, program, verdict, words
):
    if program not in PROGRAMS[language]:
        pytest.skip(f"{language} has no {program} (a managed runtime cannot segfault)")
    result = grade(native, language, PROGRAMS[language][program], io_cases=SUM_CASES[:1])
    assert result.verdict == verdict, (result.message, result.stderr[:500])
    assert words in result.message, result.message
    assert_nothing_outlived_the_run()


def test_the_student_sees_the_limit_that_applied_with_the_languages_time_factor(native):
    needs("java")
    result = grade(native, "java", PROGRAMS["java"]["time_limit"], io_cases=SUM_CASES[:1])
    factor = languages.get("java").time_factor
    assert result.limits["cpu_seconds"] == LIMITS["cpu_seconds"] * factor
    assert f"allows {LIMITS['cpu_seconds'] * factor:g} s of CPU" in result.message


@pytest.mark.parametrize("language", COMPILED)
def test_function_tests_call_the_students_code_through_the_driver_and_compare_outside(
    native, language
):
    programs = PROGRAMS[language]
    right = grade(
        native,
        language,
        programs["function_right"],
        io_cases=[],
        test_code=programs["driver"],
        function_tests=FUNCTION_TESTS,
    )
    assert right.verdict == "passed", (right.message, right.tests)
    assert [t["name"] for t in right.tests] == ["small", "negative", "hidden_large"]
    wrong = grade(
        native,
        language,
        programs["function_wrong"],
        io_cases=[],
        test_code=programs["driver"],
        function_tests=FUNCTION_TESTS,
    )
    assert wrong.verdict == "wrong_answer"
    assert "Expected output:\n5" in wrong.tests[0]["message"]
    assert wrong.tests[2]["message"] == "hidden test", "a hidden test shows only pass or fail"
    assert "2000000000" not in str(wrong.tests) + wrong.stdout + wrong.stderr


def test_a_forged_pass_needs_the_hidden_answers(native):
    """The student's function prints what a results reader would take for a pass, on every descriptor, and
    returns a wrong value: only the driver's output, compared outside, counts."""
    needs("c")
    forger = (
        "#include <unistd.h>\nlong add(long a, long b) {\n"
        '    for (int fd = 0; fd < 1024; fd++) if (fd != 1) write(fd, "OK passed\\n", 10);\n'
        "    return 0;\n}\n"
    )
    result = grade(
        native,
        "c",
        forger,
        io_cases=[],
        test_code=PROGRAMS["c"]["driver"],
        function_tests=FUNCTION_TESTS,
    )
    assert result.verdict == "wrong_answer"
    assert not any(t["passed"] for t in result.tests[:1] + result.tests[2:])


def test_identical_code_compiles_once_and_a_damaged_entry_is_compiled_again(native):
    needs("c")
    code = PROGRAMS["c"]["right"].replace("return 0;", f"return 0; /* {uuid.uuid4()} */")
    before = entries(native)
    first = grade(native, "c", code)
    new = entries(native) - before
    assert first.compile == {"cached": False, "ms": first.compile["ms"], "ok": True}
    assert len(new) == 1
    # A damaged entry fails its hash and is compiled again (damaged before any judge read it: the warm judge keeps
    # what it has read and verified in memory)
    path = Path(native.cache_dir) / next(iter(new))
    path.write_bytes(path.read_bytes().replace(b'"ok": true', b'"ok": false'))
    second = grade(native, "c", code)
    assert second.compile["cached"] is False and second.verdict == "passed"
    # A second student with the same code, and the same code graded after a test change: no compile
    third = grade(native, "c", code)
    assert third.compile["cached"] is True and third.verdict == "passed"
    fourth = grade(native, "c", code, io_cases=SUM_CASES[:1])
    assert fourth.compile["cached"] is True and fourth.verdict == "passed"
    assert entries(native) - before == new


def test_a_compile_error_is_cached_too_and_a_driver_change_compiles_again(native):
    needs("c")
    broken = PROGRAMS["c"]["compile_error"].replace("total", f"total_{uuid.uuid4().hex[:8]}")
    assert grade(native, "c", broken).compile["cached"] is False
    assert grade(native, "c", broken).compile["cached"] is True
    driver = PROGRAMS["c"]["driver"]
    code = PROGRAMS["c"]["function_right"] + f"/* {uuid.uuid4()} */\n"
    job = {"io_cases": [], "test_code": driver, "function_tests": FUNCTION_TESTS}
    assert grade(native, "c", code, **job).compile["cached"] is False
    assert grade(native, "c", code, **job).compile["cached"] is True
    changed = {**job, "test_code": driver.replace("int main", "/* v2 */ int main")}
    assert grade(native, "c", code, **changed).compile["cached"] is False


def test_parallel_native_runs_do_not_disturb_each_other(native):
    needs("c")
    hostile = {a.name: a for a in ATTACKS}
    ctx = {
        "redis_port": "1",
        "postgres_port": "1",
        "project_file": "/x",
        "tests_file": "/x",
        "secret": "x",
    }
    attacks = [hostile[n].source(ctx) for n in ("kill_everyone", "unbounded_mmap", "busy_threads")]
    n = 2 * (os.cpu_count() or 1)
    jobs = [
        SandboxJob(code=PROGRAMS["c"]["right"], language="c", io_cases=SUM_CASES, limits=LIMITS)
        for _ in range(n)
    ] + [
        SandboxJob(code=attacks[i % 3], language="c", io_cases=SUM_CASES[:1], limits=LIMITS)
        for i in range(n)
    ]
    results = native.run_many(jobs)
    assert [r.verdict for r in results[:n]] == ["passed"] * n
    assert all(r.verdict != "passed" for r in results[n:])
    assert_nothing_outlived_the_run()


def context(listeners: list[socket.socket]) -> dict[str, str]:
    return {
        "redis_port": str(listeners[0].getsockname()[1]),
        "postgres_port": str(listeners[1].getsockname()[1]),
        "project_file": str(ROOT / "gradeflow" / "settings.py"),
        "tests_file": __file__,
        "secret": SECRET,
    }


def contained(grader: NativeGrader, attack: NativeAttack) -> SandboxResult:
    """The attack graded by `grader` as a submission: not a pass, no host file or secret shown, nothing left."""
    needs(attack.language)
    with ports_nobody_may_reach() as listeners:
        result = grader.run(
            SandboxJob(
                code=attack.source(context(listeners)),
                language=attack.language,
                io_cases=[{"stdin": "2 3\n", "stdout": "5\n"}],
                limits=LIMITS,
            )
        )
        assert result.verdict in attack.verdicts, (result.verdict, result.message, result.stdout)
        shown = "\n".join([result.message, result.stdout, result.stderr, str(result.tests)])
        assert "root:x:0:0" not in shown, "a host file's lines came back"
        assert SECRET not in shown
    assert_nothing_outlived_the_run()
    return result


@pytest.mark.parametrize("attack", ATTACKS + COMPILE_ATTACKS, ids=lambda a: a.name)
def test_native_attack_is_contained(native: NativeGrader, attack: NativeAttack):
    contained(native, attack)
    after = native.run(
        SandboxJob(code=PROGRAMS["c"]["right"], language="c", io_cases=SUM_CASES, limits=LIMITS)
    )
    assert after.verdict == "passed", "the grader must keep working after an attack"


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.language == "c"], ids=lambda a: a.name)
def test_native_attack_is_contained_without_the_warm_supervisor(
    native_cold: NativeGrader, attack: NativeAttack
):
    """C and C++ run warm where they can; where they cannot, the grading's own namespaces hold as well."""
    assert contained(native_cold, attack).judge == ""


def test_results_keep_their_compile_figures(native):
    needs("c")
    result = grade(native, "c", PROGRAMS["c"]["right"])
    assert set(dataclasses.asdict(result)["compile"]) == {"cached", "ms", "ok"}


@pytest.mark.parametrize("seed", LANGUAGE_COURSE, ids=lambda s: s.slug)
def test_every_seed_assignment_in_another_language_passes_its_reference_and_not_the_starter(
    native, seed
):
    """The demo course's C, C++, Java and JavaScript assignments: the reference earns every point, and the
    editor's starter code (what a student sees first) does not."""
    job = {
        "io_cases": seed.io_cases,
        "function_tests": seed.function_tests,
        "test_code": seed.driver,
        "limits": DEFAULT_LIMITS,
    }
    reference = grade(native, seed.language, seed.reference_solution, **job)
    assert reference.verdict == "passed", (reference.message, reference.tests)
    assert len(reference.tests) == len(seed.io_cases) + len(seed.function_tests)
    starter = grade(native, seed.language, languages.get(seed.language).starter, **job)
    assert starter.verdict != "passed", starter.tests


LEAVES_TRACES = r"""#include <stdio.h>
#include <unistd.h>
int main(void) {
    /* The first case leaves a file, and deletes the program itself: a later case must not see either */
    FILE *mark = fopen("mark", "r");
    if (mark) { puts("I saw the earlier case"); return 0; }
    mark = fopen("mark", "w");
    fputs("x", mark);
    fclose(mark);
    unlink("program");
    long a, b;
    if (scanf("%ld %ld", &a, &b) == 2) printf("%ld\n", a + b);
    return 0;
}
"""


def test_cases_share_one_sandbox_but_each_finds_work_as_the_grading_began(native):
    """One sandbox runs every case of a grading (a fresh process each); what a case leaves in /work, or takes
    from it, is put back before the next."""
    result = grade(native, "c", LEAVES_TRACES, io_cases=SUM_CASES * 2)
    assert [t["passed"] for t in result.tests] == [True] * 4, result.tests


SHUTS_ITS_DIRECTORY = r"""#include <stdio.h>
#include <sys/stat.h>
int main(void) {
    long a, b;
    if (scanf("%ld %ld", &a, &b) == 2) printf("%ld\n", a + b);
    chmod(".", 0);  /* the next case finds /work as it began all the same */
    return 0;
}
"""


def test_a_case_that_shuts_its_work_directory_does_not_break_the_next(native):
    result = grade(native, "c", SHUTS_ITS_DIRECTORY, io_cases=SUM_CASES * 2)
    assert [t["passed"] for t in result.tests] == [True] * 4, result.tests


def test_the_native_spawner_starts_each_case_and_without_it_pid_1_forks_with_the_same_result(
    native, native_forking
):
    """The fork server builds sandbox/spawn.c (this machine has a C compiler) and pid 1 starts each case through
    it; a server without it forks each case itself. Both grade alike and contain alike."""
    needs("c")
    assert list(Path(native.sandbox._runs_dir).glob("gradeflow-spawn-*")), "the spawner was built"
    assert not list(Path(native_forking.sandbox._runs_dir).glob("gradeflow-spawn-*"))
    attacks = {a.name: a for a in ATTACKS}
    for grader in (native, native_forking):
        right = grade(grader, "c", PROGRAMS["c"]["right"])
        assert right.verdict == "passed", right.tests
        slow = grade(grader, "c", PROGRAMS["c"]["time_limit"], io_cases=SUM_CASES[:1])
        assert slow.verdict == "time_limit", slow.message
        traces = grade(grader, "c", LEAVES_TRACES, io_cases=SUM_CASES * 2)
        assert [t["passed"] for t in traces.tests] == [True] * 4, traces.tests
        for name in ("keep_capabilities", "inherited_descriptors", "seccomp_is_off", "raw_fork"):
            contained = grade(
                grader, "c", attacks[name].source({}), io_cases=[{"stdin": "", "stdout": "5\n"}]
            )
            assert contained.verdict in attacks[name].verdicts, (name, contained.verdict)
    assert_nothing_outlived_the_run()


SESSION_PROGRAM = """#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    sleep(2);
    int made = setsid() != -1;
    printf("new session: %s\\n", made ? "made" : errno == EPERM ? "refused" : "failed");
    return 0;
}
"""

# The tests of a Python submission run outside the sandbox (they call its functions): the attempt is at import
PYTHON_SESSION = """import os
import time

time.sleep(2)
try:
    os.setsid()
    SESSION = "made"
except PermissionError:
    SESSION = "refused"


def session():
    return SESSION
"""


@pytest.mark.parametrize("language", ["python", "c"])
def test_a_run_weighs_on_the_scheduler_what_its_judge_does(native, language):
    """Linux schedules each session as one unit: a run in a session of its own at nice 0 would weigh as much as
    the whole API, however far the worker is niced below it. A run's session takes the judge's nice (a regrade's
    is higher); a compiled C program's case runs in the warm supervisor's one session, which weighs what the
    server does, at the judge's nice within it. The program cannot start a session of its own to escape either."""
    if language == "c":
        needs("c")
        job = SandboxJob(
            code=SESSION_PROGRAM,
            language="c",
            io_cases=[{"stdin": "", "stdout": "new session: refused\n"}],
            limits={**LIMITS, "wall_seconds": 6},
            nice=7,
        )
    else:
        job = SandboxJob(
            code=PYTHON_SESSION,
            test_code=(
                "import unittest\nfrom solution import session\n\n\nclass T(unittest.TestCase):\n"
                "    def test_no_session_of_its_own(self):\n"
                "        self.assertEqual(session(), 'refused')\n"
            ),
            limits={**LIMITS, "wall_seconds": 6},
            nice=7,
        )
    running = asyncio.run_coroutine_threadsafe(native.sandbox.run_in_sandbox(job), native.loop.loop)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    expected = f"nice {min(19, own + 7)}"
    assert native.sandbox._server is not None
    server = native.sandbox._server.pid

    def autogroup(pid: int) -> list[str]:  # ["/autogroup-123", "nice", "15"]
        return Path(f"/proc/{pid}/autogroup").read_text().split()

    # The warm supervisor (made with the server: looked for once, not at every poll below)
    supervisor = next((p for p, uid in processes() if uid == warm.outside_root(server)), 0)
    assert supervisor or language != "c", "the server made its warm supervisor"

    def weights() -> set[str]:
        """How the program's processes weigh: the nice of their session ("nice N", as /proc says it) or, for a
        warm case, its own nice, its session being the warm supervisor's."""
        seen = set()
        for pid in run_processes():
            try:
                if language == "c" and uid_of(pid) >= warm.UID_BASE:  # the case, warm
                    nice = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
                    shared = autogroup(pid)[0] == autogroup(supervisor)[0]
                    seen.add(f"nice {nice}, in the warm session: {shared}")
                elif language == "python":
                    seen.add(" ".join(autogroup(pid)[1:]))
            except OSError:  # ended meanwhile
                pass
        return seen

    if language == "c":
        assert wait_for(weights, 20, "the program's case") == {
            f"{expected}, in the warm session: True"
        }
        # (made by the server, it weighs what the server process does)
        assert autogroup(supervisor)[1:] == ["nice", str(os.getpriority(os.PRIO_PROCESS, server))]
    else:
        assert wait_for(weights, 10, "the run's processes") == {expected}
    result = running.result(60)
    assert result.verdict == "passed", result.message
    assert_nothing_outlived_the_run()
