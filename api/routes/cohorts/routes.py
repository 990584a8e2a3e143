"""Cohorts for their instructors: who is in them and how far each student got."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import Integer, case, func, select
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client

from api.deps import (
    STAFF_ONLY,
    CurrentUser,
    Instructor,
    Principal,
    RedisDep,
    SessionDep,
    TemporalDep,
    taught_cohort,
    teaches,
    token_changed,
)
from api.downloads import CSV_CONTENT, csv_text
from api.errors import ApiError
from api.offerings import refuse_unless_editor
from api.params import AssignmentId, CohortSlug, UserName
from api.routes.cohorts.schemas import (
    CohortMatrix,
    CohortOut,
    CreditChangeOut,
    ExtensionIn,
    ExtensionOut,
    GradebookOut,
    MemberIn,
    MemberOut,
    MembershipOut,
    OfferingIn,
    OfferingOut,
    RecomputeOut,
    RosterImport,
    RosterOut,
    RosterPerson,
)
from api.schemas import STAFF, LateWindow, errors, put_and_patch
from gradeflow import gradebook, redis_keys
from gradeflow.accounts import AccountError, NoSuchAccount, enroll, unenroll
from gradeflow.models import (
    Assignment,
    Cohort,
    CreditChange,
    Enrollment,
    Extension,
    Offering,
    Recompute,
    Submission,
    User,
)
from gradeflow.redis_keys import best_effort
from gradeflow.roster import import_roster, parse
from gradeflow.vocabulary import RecountStatus, Role, SubmissionStatus
from workflows.config import recompute_workflow_id
from workflows.start import start_recompute_workflow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/cohorts", tags=["cohorts"], responses=errors(*STAFF))


async def visible_cohort(session, user, slug: str) -> Cohort:
    cohort = (await session.execute(select(Cohort).where(Cohort.slug == slug))).scalar_one_or_none()
    if cohort is None or not (
        user.role == Role.OPERATOR or await teaches(session, user, cohort.id)
    ):
        raise ApiError(404, f"Cohort '{slug}' not found (or you do not teach it).")
    return cohort


@router.get("", response_model=list[CohortOut], dependencies=[STAFF_ONLY])
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
    "/{slug}/matrix", response_model=CohortMatrix, dependencies=[STAFF_ONLY], responses=errors(404)
)
async def cohort_matrix(slug: CohortSlug, user: CurrentUser, session: SessionDep):
    """Students x the assignments the cohort offers: solved, attempted, not started or missing (past the student's
    due date, their extension's if they have one, with nothing submitted), whether their work came only after the
    due date (late), with the best score and the attempts."""
    cohort = await visible_cohort(session, user, slug)
    offered = await gradebook.offered(session, cohort.id)
    students = await gradebook.students_of(session, cohort.id)
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
                func.bool_and(Submission.late).label("late_only"),
            )
            .join(
                Enrollment,
                (Enrollment.user_id == Submission.user_id) & (Enrollment.cohort_id == cohort.id),
            )
            # Only what they did in this cohort: a student in two cohorts shows each its own work
            .where(Submission.cohort_id == cohort.id)
            .group_by(Submission.user_id, Submission.assignment_id)
        )
    ).all()
    extended = {
        (e.user_id, e.assignment_id): e.due_at
        for e in (
            await session.execute(
                select(Extension.user_id, Extension.assignment_id, Extension.due_at).where(
                    Extension.cohort_id == cohort.id
                )
            )
        ).all()
    }
    by_student: dict[int, dict[str, dict]] = {}
    for c in cells:
        by_student.setdefault(c.user_id, {})[str(c.assignment_id)] = {
            "state": "solved" if c.solved else "attempted",
            "best_score": c.best,
            "attempts": c.attempts,
            "late": bool(c.late_only),
        }
    now = datetime.now(UTC)
    for s in students:
        mine = by_student.setdefault(s.id, {})
        for a, due in offered:
            due = extended.get((s.id, a.id), due)
            if str(a.id) not in mine and due is not None and due <= now:
                mine[str(a.id)] = {"state": "missing", "best_score": None, "attempts": 0}
    return CohortMatrix(
        cohort=cohort.slug,
        assignments=[
            {
                "id": a.id,
                "title": a.title,
                "order": a.position,
                "points": a.points,
                "due_at": due.isoformat() if due else None,
            }
            for a, due in offered
        ],
        students=[{"id": s.id, "name": s.name, "cells": by_student[s.id]} for s in students],
    )


@router.get(
    "/{slug}/gradebook",
    response_model=GradebookOut,
    dependencies=[STAFF_ONLY],
    responses={
        **errors(404),
        200: {
            "description": "The gradebook: JSON, or a CSV file in Canvas's or Moodle's import layout",
            "content": CSV_CONTENT,
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
    return csv_text(f"{slug}-gradebook-{layout}.csv", text)


@router.post(
    "/{slug}/roster", status_code=201, response_model=RosterOut, responses=errors(403, 404, 409)
)
async def import_cohort_roster(
    slug: CohortSlug, body: RosterImport, user: Instructor, session: SessionDep
):
    """Add people to a cohort you teach from a roster (CSV). New people get a token, in this answer only;
    people already on GradeFlow (same name, email or SIS id) are enrolled and keep theirs. A roster with a bad
    row changes nothing: the 422 names every bad row. Operators are created with `gradeflow users add`, not here."""
    cohort = await taught_cohort(session, user, slug, "can change it")
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


async def cohort_for_members(session, user: Principal, slug: str) -> Cohort:
    """The cohort whose members `user` may change: any for an operator, else one they teach."""
    if user.role == Role.OPERATOR:
        cohort = await session.scalar(select(Cohort).where(Cohort.slug == slug))
        if cohort is None:
            raise ApiError(404, f"Cohort '{slug}' does not exist.")
        return cohort
    return await taught_cohort(session, user, slug, "can change who is in it")


def member_out(u: User) -> MemberOut:
    return MemberOut(name=u.name, role=Role(u.role), email=u.email, sis_id=u.sis_id)


@router.get(
    "/{slug}/members",
    response_model=list[MemberOut],
    dependencies=[STAFF_ONLY],
    responses=errors(404),
)
async def list_members(slug: CohortSlug, user: CurrentUser, session: SessionDep):
    """Who is in the cohort: staff first, then students, by name."""
    cohort = await visible_cohort(session, user, slug)
    members = (
        await session.execute(
            select(User)
            .join(Enrollment, Enrollment.user_id == User.id)
            .where(Enrollment.cohort_id == cohort.id)
            .order_by(User.role != Role.INSTRUCTOR, User.name)
        )
    ).scalars()
    return [member_out(u) for u in members]


@router.post(
    "/{slug}/members",
    response_model=MembershipOut,
    dependencies=[STAFF_ONLY],
    responses=errors(403, 404),
)
async def add_member(
    slug: CohortSlug,
    body: MemberIn,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
    request: Request,
):
    """Put someone already on GradeFlow (a student, or staff) in the cohort: operators for any cohort, its
    instructors for theirs (they cannot add operators). New people come with a roster (POST …/roster)."""
    cohort = await cohort_for_members(session, user, slug)
    try:
        member, added = await enroll(session, cohort, body.who, body.role)
    except NoSuchAccount as exc:
        raise ApiError(404, f"who: {exc}") from None
    except AccountError as exc:
        raise ApiError(422, f"who: {exc}") from None
    if member.role == Role.OPERATOR and user.role != Role.OPERATOR:
        raise ApiError(403, "Only operators may add an operator to a cohort.")
    await session.commit()
    await token_changed(request, redis, member.token_hash)
    return MembershipOut(cohort=slug, member=member_out(member), changed=added)


@router.delete(
    "/{slug}/members/{who}",
    response_model=MembershipOut,
    dependencies=[STAFF_ONLY],
    responses=errors(403, 404),
)
async def remove_member(
    slug: CohortSlug,
    who: UserName,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
    request: Request,
):
    """Take someone out of the cohort (operators: any cohort; instructors: theirs). Their submissions and grades
    are kept: enrolling them again brings them back."""
    cohort = await cohort_for_members(session, user, slug)
    try:
        member = await unenroll(session, cohort, who)
    except AccountError as exc:  # no such person, or not in the cohort
        raise ApiError(404, f"{exc}.") from None
    await session.commit()
    await token_changed(request, redis, member.token_hash)
    return MembershipOut(cohort=slug, member=member_out(member), changed=True)


def offering_out(slug: str, o: Offering, title: str, extensions: int) -> OfferingOut:
    return OfferingOut(
        cohort=slug,
        assignment_id=o.assignment_id,
        title=title,
        release_at=o.release_at,
        due_at=o.due_at,
        close_at=o.close_at,
        late_windows=[LateWindow(**w) for w in o.late_windows or []],
        max_submissions=o.max_submissions,
        min_minutes_between=o.min_minutes_between,
        policy_version=o.policy_version,
        extensions=extensions,
    )


@router.get(
    "/{slug}/assignments",
    response_model=list[OfferingOut],
    dependencies=[STAFF_ONLY],
    responses=errors(404),
)
async def list_offerings(slug: CohortSlug, user: CurrentUser, session: SessionDep):
    """The assignments the cohort offers, with their dates and policies, in course order."""
    cohort = await visible_cohort(session, user, slug)
    extensions = (
        select(Extension.assignment_id, func.count().label("n"))
        .where(Extension.cohort_id == cohort.id)
        .group_by(Extension.assignment_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(Offering, Assignment.title, func.coalesce(extensions.c.n, 0))
            .join(Assignment, Assignment.id == Offering.assignment_id)
            .outerjoin(extensions, extensions.c.assignment_id == Offering.assignment_id)
            .where(Offering.cohort_id == cohort.id)
            .order_by(Assignment.position, Assignment.id)
        )
    ).all()
    return [offering_out(slug, o, title, n) for o, title, n in rows]


OFFERING_HELP = (
    "Offer an assignment to a cohort you teach, or change its terms there. A field left out keeps its value (a "
    "new offering starts with none); an explicit null clears it (no date: no limit). PUT and PATCH (JSON merge "
    "patch, RFC 7396) are the same. The server's clock applies the terms to every submission from now on; "
    "graded submissions they affect are recounted. Offering an assignment to another cohort needs the right to "
    "change it (you teach every cohort it is offered to); otherwise copy it."
)


@put_and_patch(
    router,
    "/{slug}/assignments/{assignment_id}",
    patch_name="patch_offering",
    body="OfferingIn",
    response_model=OfferingOut,
    responses=errors(403, 404),
    description=OFFERING_HELP,
)
async def set_offering(
    slug: CohortSlug,
    assignment_id: AssignmentId,
    body: OfferingIn,
    user: Instructor,
    session: SessionDep,
    redis: RedisDep,
    temporal: TemporalDep,
):
    cohort = await taught_cohort(session, user, slug, "can change it")
    assignment = await session.get(Assignment, assignment_id)
    if assignment is None:
        raise ApiError(404, f"Assignment {assignment_id} does not exist.")
    offering = await session.get(Offering, (cohort.id, assignment_id))
    if offering is None:
        # Offering it is sharing it: its tests would grade this cohort too, so only those who may change it
        # (who then still teach every cohort it is offered to) may share it.
        await refuse_unless_editor(session, user, assignment)
        offering = Offering(
            cohort_id=cohort.id, assignment_id=assignment_id, late_windows=[], policy_version=0
        )
        session.add(offering)
    changes = body.model_dump(exclude_unset=True)
    if "late_windows" in changes:
        changes["late_windows"] = [w.model_dump() for w in body.late_windows or []]
    for name, value in changes.items():
        setattr(offering, name, value)
    problems = []
    if offering.release_at and offering.due_at and offering.release_at > offering.due_at:
        problems.append("release_at is after due_at")
    if offering.close_at and offering.due_at and offering.close_at < offering.due_at:
        problems.append("close_at is before due_at")
    hours = [w["hours"] for w in offering.late_windows or []]
    if hours != sorted(set(hours)):
        problems.append(
            "late_windows must be in order of hours, each ending later than the one before"
        )
    if offering.late_windows and offering.due_at is None:
        problems.append("late_windows need a due_at to count from")
    if problems:
        raise ApiError(422, "; ".join(problems) + ".")
    recompute = None
    if changes or offering.policy_version == 0:
        offering.policy_version = (offering.policy_version or 0) + 1
        await session.commit()
        await best_effort(
            redis.delete(redis_keys.assignments_public(cohort.id)), "the assignment list"
        )
        recompute = await recount(
            session,
            temporal,
            cohort,
            assignment_id,
            None,
            user,
            f"{user.name} changed the terms (version {offering.policy_version})",
        )
    n = await session.scalar(
        select(func.count()).where(
            Extension.cohort_id == cohort.id, Extension.assignment_id == assignment_id
        )
    )
    out = offering_out(slug, offering, assignment.title, n or 0)
    out.recompute = recompute
    return out


EXTENSION_HELP = (
    "Give one student of a cohort you teach their own due date (later than the cohort's) and close for an "
    "assignment that has a due date there, with the reason. Granting again changes it: a field left out keeps "
    "its value, a null close_at clears it. PUT and PATCH (JSON merge patch) are the same."
)


@put_and_patch(
    router,
    "/{slug}/assignments/{assignment_id}/extensions/{student}",
    patch_name="patch_extension",
    body="ExtensionIn",
    response_model=ExtensionOut,
    responses=errors(403, 404),
    description=EXTENSION_HELP,
)
async def grant_extension(
    slug: CohortSlug,
    assignment_id: AssignmentId,
    student: UserName,
    body: ExtensionIn,
    user: Instructor,
    session: SessionDep,
    temporal: TemporalDep,
):
    cohort = await taught_cohort(session, user, slug, "can change it")
    offering = await session.get(Offering, (cohort.id, assignment_id))
    if offering is None:
        raise ApiError(404, f"Cohort '{slug}' does not offer assignment {assignment_id}.")
    member = (
        await session.execute(
            select(User)
            .join(Enrollment, Enrollment.user_id == User.id)
            .where(User.name == student, Enrollment.cohort_id == cohort.id)
        )
    ).scalar_one_or_none()
    if member is None:
        raise ApiError(404, f"No student '{student}' in cohort '{slug}'.")
    if offering.due_at is None:
        raise ApiError(
            422,
            f"Assignment {assignment_id} has no due date in '{slug}', so there is nothing to extend: set "
            f"one first (PATCH /api/v1/cohorts/{slug}/assignments/{assignment_id} with a due_at).",
        )
    extension = await session.get(Extension, (cohort.id, assignment_id, member.id))
    changes = body.model_dump(exclude_unset=True)
    if extension is None:
        missing = [f for f in ("due_at", "reason") if changes.get(f) is None]
        if missing:
            raise ApiError(
                422,
                f"A new extension needs {' and '.join(missing)}: the student's own due date and why.",
            )
        extension = Extension(cohort_id=cohort.id, assignment_id=assignment_id, user_id=member.id)
        session.add(extension)
    for name, value in changes.items():
        setattr(extension, name, value)
    problems = []
    if not (extension.reason or "").strip():
        problems.append("reason must say why the extension is granted")
    if extension.due_at <= offering.due_at:
        problems.append(
            f"due_at must be later than the cohort's due date ({offering.due_at.isoformat()}); an "
            "extension only moves it later"
        )
    if extension.close_at and extension.close_at < extension.due_at:
        problems.append("close_at is before due_at")
    if problems:
        raise ApiError(422, "; ".join(problems) + ".")
    extension.granted_by = user.id
    extension.created_at = datetime.now(UTC)
    await session.commit()
    recompute = await recount(
        session,
        temporal,
        cohort,
        assignment_id,
        member.id,
        user,
        f"{user.name} granted {student} an extension to {extension.due_at:%Y-%m-%d %H:%M %Z}"
        f" ({extension.reason})",
    )
    return ExtensionOut(
        recompute=recompute,
        cohort=slug,
        assignment_id=assignment_id,
        student=student,
        due_at=extension.due_at,
        close_at=extension.close_at,
        granted_by=user.name,
        reason=extension.reason,
        created_at=extension.created_at,
    )


async def recount(
    session,
    temporal: Client,
    cohort: Cohort,
    assignment_id: int,
    user_id: int | None,
    by: Principal,
    reason: str,
) -> RecomputeOut | None:
    """Start recounting the grades that changed terms affect (None when nothing affected is graded yet)."""
    affected = select(Submission.id).where(
        Submission.cohort_id == cohort.id,
        Submission.assignment_id == assignment_id,
        Submission.status == SubmissionStatus.GRADED,
    )
    if user_id is not None:
        affected = affected.where(Submission.user_id == user_id)
    if not await session.scalar(select(affected.exists())):
        return None
    job = Recompute(
        id=uuid.uuid4(),
        cohort_id=cohort.id,
        assignment_id=assignment_id,
        user_id=user_id,
        reason=reason,
        status=RecountStatus.RUNNING,
        created_by=by.id,
        created_at=datetime.now(UTC),
    )
    job.workflow_id = recompute_workflow_id(str(job.id))
    session.add(job)
    await session.commit()
    try:
        await start_recompute_workflow(temporal, str(job.id), cohort.slug)
    except Exception as exc:  # noqa: BLE001 - the terms are saved; the recount says it could not start
        job.status, job.finished_at = RecountStatus.FAILED, datetime.now(UTC)
        await session.commit()
        log.warning("recompute %s could not start: %s", job.id, exc)
    return recompute_out(cohort.slug, job, [])


def recompute_out(slug: str, job: Recompute, changes: list) -> RecomputeOut:
    return RecomputeOut(
        id=str(job.id),
        status=job.status,
        reason=job.reason,
        assignment_id=job.assignment_id,
        created_at=job.created_at,
        finished_at=job.finished_at,
        checked=job.checked,
        changed=job.changed,
        changes=changes,
        links={"self": f"/api/v1/cohorts/{slug}/recomputes/{job.id}"},
    )


@router.get(
    "/{slug}/recomputes",
    response_model=list[RecomputeOut],
    dependencies=[STAFF_ONLY],
    responses=errors(404),
)
async def list_recomputes(
    slug: CohortSlug,
    user: CurrentUser,
    session: SessionDep,
    limit: int = Query(20, ge=1, le=200, description="the most recent first"),
):
    """The cohort's recounts of grades (the score ledger's entries), most recent first, without their changes
    (GET one for whose grade changed)."""
    cohort = await visible_cohort(session, user, slug)
    jobs = (
        await session.execute(
            select(Recompute)
            .where(Recompute.cohort_id == cohort.id)
            .order_by(Recompute.created_at.desc())
            .limit(limit)
        )
    ).scalars()
    return [recompute_out(slug, job, []) for job in jobs]


@router.get(
    "/{slug}/recomputes/{recompute_id}",
    response_model=RecomputeOut,
    dependencies=[STAFF_ONLY],
    responses=errors(404),
)
async def read_recompute(
    slug: CohortSlug, recompute_id: uuid.UUID, user: CurrentUser, session: SessionDep
):
    """A recount of grades: its status and whose grade changed, from what to what, and why."""
    cohort = await visible_cohort(session, user, slug)
    job = await session.get(Recompute, recompute_id)
    if job is None or job.cohort_id != cohort.id:
        raise ApiError(404, f"No recompute {recompute_id} in cohort '{slug}'.")
    rows = (
        await session.execute(
            select(CreditChange, User.name)
            .join(Submission, Submission.id == CreditChange.submission_id)
            .join(User, User.id == Submission.user_id)
            .where(CreditChange.recompute_id == job.id)
            .order_by(User.name, Submission.created_at)
        )
    ).all()
    return recompute_out(
        slug,
        job,
        [
            CreditChangeOut(
                student=name,
                submission_id=str(c.submission_id),
                old_credit=c.old_credit,
                new_credit=c.new_credit,
                old_score=c.old_score,
                new_score=c.new_score,
                why=c.why,
            )
            for c, name in rows
        ],
    )
