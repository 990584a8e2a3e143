"""The signed-in user: who they are, their submissions and their progress through the course."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import distinct, select, update

from api.deps import CurrentUser, Principal, RedisDep, SessionDep, bearer, token_changed
from api.errors import ApiError
from api.offerings import offered_to
from api.params import AssignmentFilter
from api.routes.me.schemas import CohortChoice, MeOut, ProgressOut
from api.schemas import SIGNED_IN, SubmissionOut, assignment_out, errors
from gradeflow.gradebook import grades_of
from gradeflow.models import Assignment, Cohort, Enrollment, Submission, User
from gradeflow.tokens import hash_token
from gradeflow.views import submission_payload
from gradeflow.vocabulary import GradeRule, Role

router = APIRouter(prefix="/me", tags=["me"], responses=errors(*SIGNED_IN))


async def me_out(session, user: Principal) -> MeOut:
    cohorts = (
        (
            await session.execute(
                select(Cohort.slug)
                .join(Enrollment, Enrollment.cohort_id == Cohort.id)
                .where(Enrollment.user_id == user.id)
                .order_by(Cohort.slug)
            )
        )
        .scalars()
        .all()
    )
    return MeOut(
        id=user.id,
        name=user.name,
        role=Role(user.role),
        cohorts=list(cohorts),
        cohort=user.cohort_slug,
    )


@router.get("", response_model=MeOut)
async def me(user: CurrentUser, session: SessionDep):
    """Who you are, your cohorts and the one you work in now."""
    return await me_out(session, user)


@router.put("/cohort", response_model=MeOut, responses=errors(404))
async def choose_cohort(
    body: CohortChoice,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
):
    """Choose the cohort you work in (for someone in several): what you see, where your submissions count, and
    where the dashboard opens. Kept until you choose another or leave it."""
    cohort = await session.scalar(
        select(Cohort)
        .join(Enrollment, Enrollment.cohort_id == Cohort.id)
        .where(Enrollment.user_id == user.id, Cohort.slug == body.cohort)
    )
    if cohort is None:
        raise ApiError(404, f"You are not in a cohort '{body.cohort}'; GET /api/v1/me lists yours.")
    await session.execute(
        update(User).where(User.id == user.id).values(current_cohort_id=cohort.id)
    )
    await session.commit()
    await token_changed(request, redis, hash_token(credentials.credentials))
    return await me_out(session, replace(user, cohort_id=cohort.id, cohort_slug=cohort.slug))


@router.get("/submissions", response_model=list[SubmissionOut])
async def my_submissions(
    user: CurrentUser,
    session: SessionDep,
    assignment_id: AssignmentFilter = None,
    limit: int = Query(50, ge=1, le=500),
):
    """Your submissions, newest first."""
    query = select(Submission).where(Submission.user_id == user.id)
    if assignment_id is not None:
        query = query.where(Submission.assignment_id == assignment_id)
    rows = (
        await session.execute(query.order_by(Submission.created_at.desc()).limit(limit))
    ).scalars()
    return [submission_payload(s) for s in rows]


@router.get("/progress", response_model=ProgressOut)
async def my_progress(user: CurrentUser, session: SessionDep):
    """Points: the sum of your grades (each assignment's points x the share of tests passed x its credit, from
    your best or your latest graded submission, as your cohort counts them); the first unsolved assignment."""
    solved = set(
        (
            await session.execute(
                select(distinct(Submission.assignment_id)).where(
                    Submission.user_id == user.id, Submission.passed.is_(True)
                )
            )
        ).scalars()
    )
    if user.role == Role.STUDENT:  # what their cohort offers and has released
        ordered = await offered_to(session, user, datetime.now(UTC))
    else:
        ordered = list(
            (
                await session.execute(
                    select(Assignment).order_by(Assignment.position, Assignment.id)
                )
            ).scalars()
        )
    cohort = await session.get(Cohort, user.cohort_id) if user.cohort_id is not None else None
    grades = await grades_of(
        session, user.id, user.cohort_id, cohort.grade_rule if cohort else GradeRule.BEST
    )
    upcoming = next((a for a in ordered if a.id not in solved), None)
    return ProgressOut(
        points=round(sum(grades.get(a.id, 0.0) for a in ordered), 2),
        points_possible=float(sum(a.points for a in ordered)),
        solved=sorted(solved),
        total_assignments=len(ordered),
        next_assignment=assignment_out(upcoming, staff=False) if upcoming else None,
    )
