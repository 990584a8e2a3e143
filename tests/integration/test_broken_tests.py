"""Instructor mistakes are the instructor's: tests that fail to load are refused when saved, and a submission
graded against tests that broke anyway ends `test_error` in one grading, never retried, told to the student in
words and to the instructor with the error and its line."""

from __future__ import annotations

import time
import uuid

import pytest

from gradeflow.models import TESTS_BROKEN
from tests.conftest import Stack
from tests.integration.test_submission_path import submit, unique

pytestmark = pytest.mark.integration

GOOD_TESTS = """import unittest
from solution import double

class T(unittest.TestCase):
    def test_double(self):
        self.assertEqual(double(2), 4)
"""
NAME_ERROR_TESTS = """import unittest
from solution import double
EXPECTED = hlper(2)

class T(unittest.TestCase):
    def test_double(self):
        self.assertEqual(double(2), EXPECTED)
"""
MISSING_MODULE_TESTS = GOOD_TESTS.replace(
    "import unittest\n", "import unittest\nimport gradeflow_no_such_module\n"
)
DOUBLE = "def double(x):\n    return 2 * x\n"


def new_assignment(stack: Stack, test_code: str = GOOD_TESTS) -> dict:
    with stack.client(stack.tokens["ada"]) as c:
        # Last in the course (order 1000): the shared test stack's students see the seeded course first.
        created = c.post(
            "/assignments",
            json={
                "title": f"Double {uuid.uuid4().hex[:6]}",
                "test_code": test_code,
                "reference_solution": DOUBLE,
                "order": 1000,
            },
        )
    assert created.status_code == 201, created.text
    return created.json()


def test_saving_tests_that_fail_to_load_is_refused_with_the_error_and_line(stack: Stack):
    expected = (
        "test_code: The assignment's tests fail to load: NameError: name 'hlper' is not defined "
        "(line 3 of the tests)"
    )
    with stack.client(stack.tokens["ada"]) as c:
        # With a reference solution the tests are loaded against it: an error anywhere in them is found.
        created = c.post(
            "/assignments",
            json={"title": "Broken", "test_code": NAME_ERROR_TESTS, "reference_solution": DOUBLE},
        )
        assert (created.status_code, created.json()["detail"]) == (422, expected)
        # Without one, against an empty solution: what fails whatever the solution is, is found.
        missing = c.post(
            "/assignments", json={"title": "Broken", "test_code": MISSING_MODULE_TESTS}
        )
        assert missing.status_code == 422
        assert missing.json()["detail"].startswith(
            "test_code: The assignment's tests fail to load: "
            "ModuleNotFoundError: No module named 'gradeflow_no_such_module'"
        )
        good = new_assignment(stack)
        updated = c.put(f"/assignments/{good['id']}", json={"test_code": NAME_ERROR_TESTS})
        assert (updated.status_code, updated.json()["detail"]) == (422, expected)
        assert c.get(f"/assignments/{good['id']}").json()["test_code"] == GOOD_TESTS, (
            "nothing was saved"
        )
        # Tests that need the student's names load fine against an empty solution: not refused.
        assert new_assignment(stack)["test_code"] == GOOD_TESTS


def test_check_answers_at_once_for_tests_that_fail_to_load(stack: Stack):
    started = time.monotonic()
    with stack.client(stack.tokens["ada"]) as c:
        checked = c.post(
            "/assignments/check", json={"test_code": NAME_ERROR_TESTS, "reference_solution": DOUBLE}
        )
    assert checked.status_code == 200, checked.text
    assert checked.json()["verdict"] == "test_error"
    assert (
        "NameError: name 'hlper' is not defined (line 3 of the tests)" in checked.json()["message"]
    )
    assert time.monotonic() - started < 30, "answered after a retry, not at once"


def test_a_submission_against_tests_that_broke_anyway_ends_test_error_in_one_grading(stack: Stack):
    assignment = new_assignment(stack)
    # The judge loses a module the tests need (here: the tests change behind the API's back).
    stack.sql_write(
        "UPDATE assignments SET test_code = :code, test_version = 'broken-' || id WHERE id = :id",
        code=MISSING_MODULE_TESTS,
        id=assignment["id"],
    )
    token = stack.new_user()
    sub = submit(stack, token, unique(DOUBLE), assignment_id=assignment["id"]).json()
    result = stack.wait_graded(token, sub["id"], timeout=60)
    assert (result["status"], result["verdict"], result["score"]) == ("error", "test_error", None)
    assert result["message"] == TESTS_BROKEN and result["error"] == TESTS_BROKEN
    assert "test_error" not in result, "the student does not see the instructor's error"
    runs = stack.sql(
        "SELECT verdict, attempt FROM grading_runs WHERE submission_id = CAST(:id AS uuid)",
        id=sub["id"],
    )
    assert runs == [("test_error", 1)], "one grading, never retried"
    with stack.client(stack.tokens["ada"]) as c:
        seen = c.get(f"/submissions/{sub['id']}").json()
    assert seen["test_error"].startswith(
        "The assignment's tests fail to load: ModuleNotFoundError: "
        "No module named 'gradeflow_no_such_module' (line 2 of the tests)"
    )
    # The student is not blocked: the next submission is accepted.
    assert submit(stack, token, unique(DOUBLE), assignment_id=assignment["id"]).status_code == 202
