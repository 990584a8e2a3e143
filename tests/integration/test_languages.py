"""C, C++, Java and JavaScript through the API and real workers: an instructor creates an assignment in each, a
student's right program passes, a wrong one gets per-test feedback, a compile error is `compile_error` with the
compiler's line and costs no submission, and broken programs are told which limit they broke. A language whose
toolchain this machine lacks is skipped, naming what is missing."""

from __future__ import annotations

import uuid

import pytest

from gradeflow import languages
from gradeflow.launch.seed import seed_assignments
from gradeflow.launch.seed_languages import LANGUAGE_COURSE
from gradeflow.launch.synthetic import Answer, synthetic_cohort
from tests.conftest import Stack, wait_for
from tests.integration.test_courses import course, set_terms
from tests.integration.test_regrades import wait_final
from tests.sandbox.programs import FUNCTION_TESTS, PROGRAMS, SUM_CASES, needs

pytestmark = pytest.mark.integration

LIMITS = {"cpu_seconds": 1, "wall_seconds": 3, "memory_mb": 128, "output_kb": 64}


@pytest.fixture(autouse=True)
def worker_ready(stack: Stack) -> None:
    """The worker says which languages it grades once it has tried each in the sandbox."""
    log = stack.home / "logs" / "worker.log"
    wait_for(
        lambda: log.exists() and "worker ready" in log.read_text(), 120, "the worker to be ready"
    )


def unique(code: str) -> str:
    """The same program with a unique comment (a block comment in all four), so no cache answers it."""
    return f"/* {uuid.uuid4()} */\n{code}"


def create(stack: Stack, teacher: str, language: str, **spec) -> dict:
    with stack.client(teacher) as c:
        created = c.post(
            "/assignments",
            json={
                "title": f"Sum in {language} {uuid.uuid4().hex[:6]}",
                "language": language,
                "limits": LIMITS,
                "order": 1000,
                **spec,
            },
        )
    assert created.status_code == 201, created.text
    return created.json()


def grade(stack: Stack, token: str, assignment: int, code: str) -> dict:
    with stack.client(token) as c:
        sub = c.post(f"/assignments/{assignment}/submissions", json={"code": code})
    assert sub.status_code == 202, sub.text
    return stack.wait_graded(token, sub.json()["id"], timeout=120)


@pytest.mark.parametrize("language", list(PROGRAMS))
def test_a_student_is_graded_in_the_assignments_language(stack: Stack, language: str):
    needs(language)
    programs = PROGRAMS[language]
    slug, teacher, [(_, student)] = course(stack)
    assignment = create(
        stack,
        teacher,
        language,
        io_cases=SUM_CASES,
        reference_solution=programs["right"],
    )
    assert assignment["language"] == language and assignment["warnings"] == []
    assert assignment["editor_mode"] == languages.get(language).ace_mode
    set_terms(stack, teacher, slug, assignment["id"], max_submissions=3)
    aid = assignment["id"]

    broken = grade(stack, student, aid, unique(programs["compile_error"]))
    assert (broken["verdict"], broken["passed"], broken["score"]) == ("compile_error", False, None)
    assert languages.get(language).source_name in broken["message"]
    assert "error" in broken["message"].lower() and "/work/" not in broken["message"]
    again = grade(stack, student, aid, unique(programs["compile_error"]))
    assert again["verdict"] == "compile_error"
    with stack.client(student) as c:
        terms = c.get(f"/assignments/{aid}").json()["terms"]
    assert (terms["submissions_used"], terms["submissions_left"]) == (0, 3), (
        "code the compiler refused costs no attempt"
    )

    wrong = grade(stack, student, aid, unique(programs["wrong"]))
    assert wrong["verdict"] == "wrong_answer" and wrong["score"] == 0
    assert "Expected output:\n5\nYour output:\n" in wrong["tests"][0]["message"]
    right = grade(stack, student, aid, unique(programs["right"]))
    assert (right["verdict"], right["passed"], right["score"]) == ("passed", True, 100)
    with stack.client(student) as c:
        terms = c.get(f"/assignments/{aid}").json()["terms"]
    assert terms["submissions_left"] == 1

    for program, verdict in (
        ("time_limit", "time_limit"),
        ("memory_limit", "memory_limit"),
        ("output_limit", "output_limit"),
        ("segfault", "runtime_error"),
    ):
        if program not in programs:
            continue
        staff = stack.new_user(role="instructor", cohort=slug)  # staff try it out under no limit
        result = grade(stack, staff, aid, unique(programs[program]))
        assert result["verdict"] == verdict, (program, result["message"])
        if program == "segfault":
            assert "SIGSEGV" in result["message"]


@pytest.mark.parametrize("language", list(PROGRAMS))
def test_function_tests_run_the_instructors_driver(stack: Stack, language: str):
    needs(language)
    programs = PROGRAMS[language]
    _, teacher, [(_, student)] = course(stack)
    assignment = create(
        stack,
        teacher,
        language,
        test_code=programs["driver"],
        function_tests=FUNCTION_TESTS,
        reference_solution=programs["function_right"],
    )
    right = grade(stack, student, assignment["id"], unique(programs["function_right"]))
    assert right["verdict"] == "passed", right["message"]
    assert [t["name"] for t in right["tests"]] == ["small", "negative", "hidden_large"]
    wrong = grade(stack, student, assignment["id"], unique(programs["function_wrong"]))
    assert wrong["verdict"] == "wrong_answer" and 0 <= wrong["score"] < 100
    assert wrong["tests"][2]["message"] == "hidden test"


def test_a_driver_that_does_not_compile_with_the_reference_is_refused(stack: Stack):
    needs("c")
    _, teacher, _ = course(stack)
    with stack.client(teacher) as c:
        r = c.post(
            "/assignments",
            json={
                "title": "Broken driver",
                "language": "c",
                "test_code": PROGRAMS["c"]["driver"].replace("add(a, b)", "plus(a, b)"),
                "function_tests": FUNCTION_TESTS,
                "reference_solution": PROGRAMS["c"]["function_right"],
            },
        )
    assert r.status_code == 422, r.text
    assert "do not compile together" in r.json()["detail"] and "plus" in r.json()["detail"]


def test_a_compile_limit_set_to_null_goes_back_to_its_default(stack: Stack):
    """Found by fuzzing: a null compile limit was stored as null, and the judge then failed on every check (the
    edit waited two minutes for a 503) and every grading."""
    needs("c")
    _, teacher, [(_, student)] = course(stack)
    programs = PROGRAMS["c"]
    assignment = create(
        stack,
        teacher,
        "c",
        test_code=programs["driver"],
        function_tests=FUNCTION_TESTS,
        reference_solution=programs["function_right"],
        limits={**LIMITS, "compile_wall_seconds": 30},
    )
    assert assignment["limits"]["compile_wall_seconds"] == 30
    with stack.client(teacher) as c:
        # A new reference solution is checked in the judge before the edit is saved
        edited = c.patch(
            f"/assignments/{assignment['id']}",
            json={
                "limits": {"compile_wall_seconds": None, "cpu_seconds": 2},
                "reference_solution": unique(programs["function_right"]),
            },
            timeout=60,
        )
    assert edited.status_code == 200, edited.text
    limits = edited.json()["limits"]
    assert "compile_wall_seconds" not in limits and limits["cpu_seconds"] == 2
    right = grade(stack, student, assignment["id"], unique(programs["function_right"]))
    assert right["verdict"] == "passed", right["message"]


def test_a_spec_that_does_not_fit_the_language_is_refused_with_what_to_fix(stack: Stack):
    _, teacher, _ = course(stack)
    with stack.client(teacher) as c:
        no_driver = c.post(
            "/assignments",
            json={"title": "x", "language": "c", "function_tests": FUNCTION_TESTS},
        )
        python_driver = c.post(
            "/assignments",
            json={
                "title": "x",
                "test_code": "import unittest\n",
                "function_tests": FUNCTION_TESTS,
            },
        )
        unknown = c.post(
            "/assignments", json={"title": "x", "language": "cobol", "io_cases": SUM_CASES}
        )
    assert no_driver.status_code == 422 and "need a driver in test_code" in no_driver.text
    assert python_driver.status_code == 422 and "unittest tests in test_code" in python_driver.text
    assert unknown.status_code == 422 and "java" in unknown.text


def compiles(stack: Stack, submission_ids: list) -> list[bool]:
    """For each submission, whether its last grading compiled (False: the compile cache had the program)."""
    rows = dict(
        stack.sql(
            "SELECT CAST(id AS text), details->'compile'->>'cached' FROM submissions "
            "WHERE id = ANY(CAST(:ids AS uuid[]))",
            ids=[str(i) for i in submission_ids],
        )
    )
    cached = [rows[str(i)] for i in submission_ids]  # in the order asked (SQL returns any order)
    assert all(c is not None for c in cached), "every grading says how it compiled"
    return [c == "false" for c in cached]


def test_identical_code_compiles_once_and_a_regrade_after_a_test_change_compiles_nothing(
    stack: Stack,
):
    needs("c")
    slug, teacher, [(_, a), (_, b)] = course(stack, students=2)
    code = unique(PROGRAMS["c"]["right"])
    # Two assignments with the same I/O: the second student's identical code is not in the result cache (another
    # assignment), but its program is in the compile cache.
    first, second = (create(stack, teacher, "c", io_cases=SUM_CASES) for _ in range(2))
    one = grade(stack, a, first["id"], code)
    two = grade(stack, b, second["id"], code)
    assert (one["verdict"], two["verdict"]) == ("passed", "passed")
    assert compiles(stack, [one["id"], two["id"]]) == [True, False], "identical code compiles once"

    # 200 students' distinct C programs, graded once by a first regrade (each compiled then) ...
    students = 200
    answers = [
        Answer(PROGRAMS["c"]["right"].replace("return 0;", f"return 0; /* {i} */"), True, 100.0)
        for i in range(students)
    ]

    async def make(session):
        return await synthetic_cohort(session, slug, students, {first["id"]: answers})

    submissions = stack.db(make)
    with stack.client(teacher) as c:
        started = c.post("/regrades", json={"cohort": slug, "assignment_id": first["id"]})
    assert started.status_code == 202, started.text
    done = wait_final(stack, teacher, started.json()["id"], timeout=600)
    assert done["status"] == "completed", done
    assert sum(compiles(stack, submissions)) == students
    # ... then the tests change, and the regrade finds every program in the compile cache
    with stack.client(teacher) as c:
        changed = c.put(
            f"/assignments/{first['id']}",
            json={"io_cases": [*SUM_CASES, {"stdin": "40 2\n", "stdout": "42\n"}]},
        )
        assert changed.status_code == 200, changed.text
        again = c.post("/regrades", json={"cohort": slug, "assignment_id": first["id"]})
    assert again.status_code == 202, again.text
    done = wait_final(stack, teacher, again.json()["id"], timeout=600)
    assert done["status"] == "completed", done
    assert sum(compiles(stack, submissions)) == 0, "a regrade of unchanged code compiles nothing"


def test_the_demo_course_in_other_languages_is_graded_and_seeding_again_adds_nothing(stack: Stack):
    """A demo student solves the seeded FizzBuzz in C (a driver with function tests) through the real worker;
    seeding the course a second time (every start does) leaves the catalogue as it is."""
    needs("c")
    student = stack.new_user()
    with stack.client(student) as c:
        seeded = {a["slug"]: a for a in c.get("/assignments").json()}
    assert {s.slug for s in LANGUAGE_COURSE} <= set(seeded)
    fizzbuzz = seeded["fizzbuzz-c"]
    assert fizzbuzz["language"] == "c"
    reference = next(s for s in LANGUAGE_COURSE if s.slug == "fizzbuzz-c").reference_solution
    result = grade(stack, student, fizzbuzz["id"], unique(reference))
    assert result["verdict"] == "passed", result
    assert [t["name"] for t in result["tests"]] == [
        "first_five",
        "up_to_fifteen",
        "none",
        "hidden_hundred",
    ]
    before = stack.sql("select count(*) from assignments")[0][0]
    assert stack.db(seed_assignments) == 0
    assert stack.sql("select count(*) from assignments")[0][0] == before


def test_the_operator_is_told_which_languages_regrades_in_progress_hold(stack: Stack):
    """The operator's problems count, per language, the regrades in progress whose scope holds it (the batch's
    assignment, or what its cohort is offered): what waits when no worker grades that language."""
    from sqlalchemy import update

    from api.routes.ops.queries import regrades_by_language
    from gradeflow.models import RegradeBatch
    from gradeflow.vocabulary import BatchStatus

    slug, teacher, _ = course(stack)
    java = create(stack, teacher, "java", io_cases=SUM_CASES)
    cohort_id = stack.sql("select id from cohorts where slug = :s", s=slug)[0][0]
    teacher_id = stack.sql("select id from users where role = 'instructor' order by id desc")[0][0]

    async def counts(session):
        return dict((await session.execute(regrades_by_language())).all())

    before = stack.db(counts)

    async def start(session, assignment_id):
        session.add(
            RegradeBatch(
                created_by=teacher_id,
                cohort_id=cohort_id,
                assignment_id=assignment_id,
                status=BatchStatus.RUNNING,
            )
        )

    stack.db(lambda s: start(s, java["id"]))  # one assignment in Java
    stack.db(
        lambda s: start(s, None)
    )  # the whole cohort: its Python course and the Java assignment
    after = stack.db(counts)
    assert after.get("java", 0) - before.get("java", 0) == 2
    assert after.get("python", 0) - before.get("python", 0) == 1

    async def finish(session):
        await session.execute(
            update(RegradeBatch)
            .where(RegradeBatch.cohort_id == cohort_id)
            .values(status=BatchStatus.COMPLETED)
        )

    stack.db(finish)
    assert stack.db(counts) == before
