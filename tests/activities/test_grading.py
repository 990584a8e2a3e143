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


def test_the_live_statements_name_the_models_columns_and_the_rows_fill_them():
    """The claim and record statements are asyncpg's SQL, written from these tuples: each must be a column, and a
    grading_runs row (grading_run_row, which regrades insert too) must give exactly the record's columns, in order."""
    from datetime import UTC, datetime
    from types import SimpleNamespace
    from uuid import uuid4

    from activities.grading import (
        DETAIL_FIELDS,
        GRADED_BY,
        RECORDED,
        RUN_COLUMNS,
        SUBMISSION_COLUMNS,
        grading_run_row,
    )
    from gradeflow.models import GradingRun

    def columns(model) -> set[str]:
        return {attr.key for attr in model.__mapper__.column_attrs}

    assert set(SUBMISSION_COLUMNS) == columns(Submission) and set(RECORDED) <= columns(Submission)
    assert set(GRADED_BY) <= columns(Assignment) and set(RUN_COLUMNS) <= columns(GradingRun)
    graded = SimpleNamespace(
        verdict="passed", passed=True, tests=[], **dict.fromkeys(DETAIL_FIELDS, "")
    )
    now = datetime.now(UTC)
    row = grading_run_row(
        graded,
        submission_id=uuid4(),
        batch_id=None,
        test_version="v",
        score=1.0,
        max_score=1.0,
        workflow_id="w",
        run_id="r",
        attempt=1,
        started_at=now,
        finished_at=now,
    )
    assert tuple(row) == RUN_COLUMNS
