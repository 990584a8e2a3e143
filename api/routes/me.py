"""The signed-in user: who they are, their submissions and their progress through the course."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query
from sqlalchemy import distinct, select

from api.deps import CurrentUser, SessionDep
from api.offerings import offered_to
from api.params import AssignmentFilter
from api.schemas import SIGNED_IN, MeOut, ProgressOut, SubmissionOut, assignment_out, errors
from gradeflow.models import Assignment, Cohort, Enrollment, Submission
from gradeflow.views import submission_payload
from gradeflow.vocabulary import Role

router = APIRouter(prefix="/me", tags=["me"], responses=errors(*SIGNED_IN))
POINTS_PER_SOLVED = 100


@router.get("", response_model=MeOut)
async def me(user: CurrentUser, session: SessionDep):
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
    return MeOut(id=user.id, name=user.name, role=Role(user.role), cohorts=list(cohorts))


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
    """Points (100 per distinct solved assignment) and the first unsolved assignment in course order."""
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
    upcoming = next((a for a in ordered if a.id not in solved), None)
    return ProgressOut(
        points=POINTS_PER_SOLVED * len(solved),
        solved=sorted(solved),
        total_assignments=len(ordered),
        next_assignment=assignment_out(upcoming, staff=False) if upcoming else None,
    )
