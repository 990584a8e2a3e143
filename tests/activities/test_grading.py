"""The grading activities' pure parts: the sandbox job a submission becomes (the score it earns: tests/gradeflow/test_policy.py)."""

from __future__ import annotations

from activities.grading import job_for
from gradeflow.models import Assignment, Submission


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
