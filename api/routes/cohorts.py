"""Cohorts for their instructors: who is in them and how far each student got."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import Integer, case, func, select
from sqlalchemy.exc import IntegrityError

from api.deps import CurrentUser, Instructor, SessionDep, require_role, teaches
from api.errors import ApiError
from api.params import CohortSlug
from api.schemas import (
    STAFF,
    CohortMatrix,
    CohortOut,
    GradebookOut,
    RosterImport,
    RosterOut,
    RosterPerson,
    errors,
)
from gradeflow import gradebook
from gradeflow.accounts import AccountError
from gradeflow.models import Assignment, Cohort, Enrollment, Submission, User
from gradeflow.roster import import_roster, parse
from gradeflow.vocabulary import Role

router = APIRouter(prefix="/cohorts", tags=["cohorts"], responses=errors(*STAFF))
Staff = require_role(Role.INSTRUCTOR, Role.OPERATOR)


async def visible_cohort(session, user, slug: str) -> Cohort:
    cohort = (await session.execute(select(Cohort).where(Cohort.slug == slug))).scalar_one_or_none()
    if cohort is None or not (
        user.role == Role.OPERATOR or await teaches(session, user, cohort.id)
    ):
        raise ApiError(404, f"Cohort '{slug}' not found (or you do not teach it).")
    return cohort


@router.get("", response_model=list[CohortOut], dependencies=[Staff])
async def list_cohorts(user: CurrentUser, session: SessionDep):
    """The cohorts you teach (operators: all), with their number of students."""
    students = (
        select(Enrollment.cohort_id, func.count().label("n"))
        .join(User, User.id == Enrollment.user_id)
        .where(User.role == Role.STUDENT)
        .group_by(Enrollment.cohort_id)
        .subquery()
    )
    query = select(Cohort, func.coalesce(students.c.n, 0)).outerjoin(
        students, students.c.cohort_id == Cohort.id
    )
    if user.role != Role.OPERATOR:
        query = query.join(
            Enrollment, (Enrollment.cohort_id == Cohort.id) & (Enrollment.user_id == user.id)
        )
    rows = (await session.execute(query.order_by(Cohort.slug))).all()
    return [CohortOut(slug=c.slug, title=c.title, students=n) for c, n in rows]


@router.get(
    "/{slug}/matrix", response_model=CohortMatrix, dependencies=[Staff], responses=errors(404)
)
async def cohort_matrix(slug: CohortSlug, user: CurrentUser, session: SessionDep):
    """Students x assignments: solved, attempted or not started, with the best score and the attempts."""
    cohort = await visible_cohort(session, user, slug)
    assignments = (
        (await session.execute(select(Assignment).order_by(Assignment.position, Assignment.id)))
        .scalars()
        .all()
    )
    students = (
        await session.execute(
            select(User.id, User.name)
            .join(Enrollment, Enrollment.user_id == User.id)
            .where(Enrollment.cohort_id == cohort.id, User.role == Role.STUDENT)
            .order_by(User.name)
        )
    ).all()
    cells = (
        await session.execute(
            select(
                Submission.user_id,
                Submission.assignment_id,
                func.max(case((Submission.passed.is_(True), 1), else_=0).cast(Integer)).label(
                    "solved"
                ),
                func.max(Submission.score).label("best"),
                func.count().label("attempts"),
            )
            .join(
                Enrollment,
                (Enrollment.user_id == Submission.user_id) & (Enrollment.cohort_id == cohort.id),
            )
            .group_by(Submission.user_id, Submission.assignment_id)
        )
    ).all()
    by_student: dict[int, dict[str, dict]] = {}
    for c in cells:
        by_student.setdefault(c.user_id, {})[str(c.assignment_id)] = {
            "state": "solved" if c.solved else "attempted",
            "best_score": c.best,
            "attempts": c.attempts,
        }
    return CohortMatrix(
        cohort=cohort.slug,
        assignments=[
            {"id": a.id, "title": a.title, "order": a.position, "points": a.points}
            for a in assignments
        ],
        students=[
            {"id": s.id, "name": s.name, "cells": by_student.get(s.id, {})} for s in students
        ],
    )


@router.get(
    "/{slug}/gradebook",
    response_model=GradebookOut,
    dependencies=[Staff],
    responses={
        **errors(404),
        200: {
            "description": "The gradebook: JSON, or a CSV file in Canvas's or Moodle's import layout",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
)
async def read_gradebook(
    slug: CohortSlug,
    user: CurrentUser,
    session: SessionDep,
    layout: Literal["json", "canvas", "moodle"] = Query(
        "json",
        alias="format",
        description="json; canvas or moodle: a CSV file their gradebook import reads",
    ),
):
    """One row per student, one grade per assignment by the cohort's rule (best or latest graded score), with
    partial credit; an empty cell where nothing was graded. The layouts are described in the README."""
    cohort = await visible_cohort(session, user, slug)
    book = await gradebook.build(session, cohort)
    if layout == "json":
        return gradebook.as_json(book)
    text = gradebook.canvas_csv(book) if layout == "canvas" else gradebook.moodle_csv(book)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{slug}-gradebook-{layout}.csv"'},
    )


@router.post(
    "/{slug}/roster", status_code=201, response_model=RosterOut, responses=errors(403, 404, 409)
)
async def import_cohort_roster(
    slug: CohortSlug, body: RosterImport, user: Instructor, session: SessionDep
):
    """Add people to a cohort you teach from a roster (CSV). New people get a token, in this answer only;
    people already on GradeFlow (same name, email or SIS id) are enrolled and keep theirs. A roster with a bad
    row changes nothing: the 422 names every bad row. Operators are created with `gradeflow users add`, not here."""
    cohort = (await session.execute(select(Cohort).where(Cohort.slug == slug))).scalar_one_or_none()
    if cohort is None:
        raise ApiError(404, f"Cohort '{slug}' does not exist.")
    if not await teaches(session, user, cohort.id):
        raise ApiError(
            403, f"You do not teach cohort '{slug}'; only its instructors can add to it."
        )
    try:
        rows = parse(body.csv)
        if any(r.role == Role.OPERATOR for r in rows):
            raise AccountError(
                "a roster cannot create operators; an administrator adds them with `gradeflow users add`"
            )
        result = await import_roster(session, cohort, rows)
        await session.commit()
    except AccountError as exc:
        await session.rollback()
        raise ApiError(422, f"csv: {exc}") from None
    except IntegrityError:  # someone took one of these names or ids in the meantime
        await session.rollback()
        raise ApiError(
            409, "Another change added some of these people meanwhile; import the roster again."
        ) from None
    return RosterOut(
        cohort=slug,
        created=[
            RosterPerson(name=r.name, email=r.email, sis_id=r.sis_id, role=Role(r.role), token=t)
            for r, t in result.created
        ],
        enrolled=result.enrolled,
        already=result.already,
    )
