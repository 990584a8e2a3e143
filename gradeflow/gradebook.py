"""A cohort's gradebook: one row per student, one grade per assignment, in the layouts LMSs import.

A student's grade for an assignment follows the cohort's rule (gradeflow.vocabulary.GradeRule): their best graded
score, or the score of their latest graded submission. A score is the assignment's points times the share of test
points the submission earned (partial credit). A student with no graded submission of an assignment has no grade
for it (an empty cell, which LMSs read as "not graded", not as zero). Only submissions made as a member of the
cohort count, and only the assignments the cohort offers have a column.

Layouts:
- `canvas`: Canvas's gradebook import: `Student, ID, SIS User ID, SIS Login ID, Section`, then one column per
  assignment named `Title (id)`, and a `Points Possible` row under the header. Canvas matches students by SIS User
  ID (GradeFlow's `sis_id`) or SIS Login ID (the email, else the login name); its own ID column stays empty.
- `moodle`: Moodle's grade import (matched on "ID number" = `sis_id` or "Email address"): `ID number, Email
  address, Username`, then one column per assignment.
- `json`: the same grades with the assignments' points and each student's total.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row as SqlRow
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.models import Assignment, Cohort, Enrollment, Offering, Submission, User
from gradeflow.vocabulary import GradeRule, Role, SubmissionStatus

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("ID number", "Email address", "Username")
FORMATS = ("json", "canvas", "moodle")


@dataclass(frozen=True)
class Column:
    id: int
    title: str
    points: float


@dataclass(frozen=True)
class Row:
    name: str
    email: str | None
    sis_id: str | None
    grades: dict[int, float]  # assignment id -> grade; absent: no graded submission

    @property
    def total(self) -> float:
        return round(sum(self.grades.values()), 2)


@dataclass(frozen=True)
class Gradebook:
    cohort: str
    rule: str
    assignments: list[Column]
    students: list[Row]


def grade(scores_oldest_first: list[float], rule: str) -> float:
    """A student's grade from the scores of their graded submissions of one assignment, oldest first."""
    return scores_oldest_first[-1] if rule == GradeRule.LATEST else max(scores_oldest_first)


async def offered(
    session: AsyncSession, cohort_id: int
) -> Sequence[tuple[Assignment, datetime | None]]:
    """The assignments a cohort offers, in course order, each with its due date there."""
    return (
        await session.execute(
            select(Assignment, Offering.due_at)
            .join(Offering, Offering.assignment_id == Assignment.id)
            .where(Offering.cohort_id == cohort_id)
            .order_by(Assignment.position, Assignment.id)
        )
    ).all()


async def students_of(
    session: AsyncSession, cohort_id: int
) -> Sequence[SqlRow[int, str, str | None, str | None]]:
    """A cohort's students by name: id, name, email, SIS id."""
    return (
        await session.execute(
            select(User.id, User.name, User.email, User.sis_id)
            .join(Enrollment, Enrollment.user_id == User.id)
            .where(Enrollment.cohort_id == cohort_id, User.role == Role.STUDENT)
            .order_by(User.name)
        )
    ).all()


async def build(session: AsyncSession, cohort: Cohort) -> Gradebook:
    assignments = [
        Column(a.id, a.title, float(a.points)) for a, _ in await offered(session, cohort.id)
    ]
    students = await students_of(session, cohort.id)
    scores: dict[tuple[int, int], list[float]] = {}
    for user_id, assignment_id, score in await session.execute(
        select(Submission.user_id, Submission.assignment_id, Submission.score)
        .where(
            Submission.cohort_id == cohort.id,
            Submission.status == SubmissionStatus.GRADED,
            Submission.score.is_not(None),
        )
        .order_by(Submission.created_at, Submission.id)
    ):
        if score is not None:  # the query excludes them; this says so to the type checker
            scores.setdefault((user_id, assignment_id), []).append(score)
    return Gradebook(
        cohort=cohort.slug,
        rule=cohort.grade_rule,
        assignments=assignments,
        students=[
            Row(
                s.name,
                s.email,
                s.sis_id,
                {
                    a.id: grade(scores[(s.id, a.id)], cohort.grade_rule)
                    for a in assignments
                    if (s.id, a.id) in scores
                },
            )
            for s in students
        ],
    )


async def grades_of(
    session: AsyncSession, user_id: int, cohort_id: int | None, rule: str
) -> dict[int, float]:
    """One student's grade per assignment, by `rule`, from their graded submissions made in `cohort_id`."""
    scores: dict[int, list[float]] = {}
    for assignment_id, score in await session.execute(
        select(Submission.assignment_id, Submission.score)
        .where(
            Submission.user_id == user_id,
            Submission.cohort_id == cohort_id
            if cohort_id is not None
            else Submission.cohort_id.is_(None),
            Submission.status == SubmissionStatus.GRADED,
            Submission.score.is_not(None),
        )
        .order_by(Submission.created_at, Submission.id)
    ):
        if score is not None:
            scores.setdefault(assignment_id, []).append(score)
    return {a: grade(s, rule) for a, s in scores.items()}


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def canvas_csv(book: Gradebook) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CANVAS_COLUMNS, *(f"{a.title} ({a.id})" for a in book.assignments)])
    writer.writerow(
        ["Points Possible", "", "", "", "", *(_number(a.points) for a in book.assignments)]
    )
    for s in book.students:
        writer.writerow(
            [
                s.name,
                "",
                s.sis_id or "",
                s.email or s.name,
                book.cohort,
                *(_number(s.grades.get(a.id)) for a in book.assignments),
            ]
        )
    return out.getvalue()


def moodle_csv(book: Gradebook) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*MOODLE_COLUMNS, *(a.title for a in book.assignments)])
    for s in book.students:
        writer.writerow(
            [
                s.sis_id or "",
                s.email or "",
                s.name,
                *(_number(s.grades.get(a.id)) for a in book.assignments),
            ]
        )
    return out.getvalue()


def as_json(book: Gradebook) -> dict[str, Any]:
    return {
        "cohort": book.cohort,
        "rule": book.rule,
        "assignments": [
            {"id": a.id, "title": a.title, "points": a.points} for a in book.assignments
        ],
        "students": [
            {
                "name": s.name,
                "email": s.email,
                "sis_id": s.sis_id,
                "grades": {str(a.id): s.grades.get(a.id) for a in book.assignments},
                "total": s.total,
            }
            for s in book.students
        ],
        "points_possible": round(sum(a.points for a in book.assignments), 2),
    }
