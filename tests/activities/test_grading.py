"""The grading activities' pure parts: the score a grading earns and the sandbox job a submission becomes."""

from __future__ import annotations

from activities.grading import job_for
from gradeflow.models import Assignment, Submission
from gradeflow.policy import score_of


def test_score_is_the_passed_share_of_test_points():
    tests = [{"passed": True}, {"passed": False}, {"passed": True}, {"passed": True}]
    assert score_of(tests, 100) == 75
    weighted = [{"passed": True, "points": 1}, {"passed": False, "points": 3}]
    assert score_of(weighted, 100) == 25
    assert score_of([{"passed": True}] * 3, 10) == 10


def test_no_tests_and_no_points_score_nothing():
    assert score_of([], 100) == 0
    assert score_of([{"passed": True, "points": 0}], 100) == 0


def test_a_score_is_rounded_to_hundredths():
    assert score_of([{"passed": True}, {"passed": False}, {"passed": False}], 100) == 33.33


def test_a_job_carries_the_assignments_current_tests_and_limits():
    assignment = Assignment(
        test_code="tests",
        io_cases=[{"stdin": "1", "stdout": "2"}],
        limits={"cpu_seconds": 2, "wall_seconds": 5, "memory_mb": 128, "output_kb": 64},
    )
    job = job_for(Submission(code="print(2)"), assignment, nice=5)
    assert (job.code, job.test_code, job.io_cases, job.nice) == (
        "print(2)",
        "tests",
        [{"stdin": "1", "stdout": "2"}],
        5,
    )
    assert job.limits == assignment.limits and job.limits is not assignment.limits
    assignment.io_cases = None
    assert job_for(Submission(code=""), assignment).io_cases == []


def test_the_credit_cap_scales_the_score():
    assert score_of([{"passed": True}, {"passed": False}], 10, credit=0.5) == 2.5
