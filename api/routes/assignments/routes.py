"""Assignments: students read them in course order; instructors write them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client

from api.deps import (
    CurrentUser,
    Instructor,
    RedisDep,
    SessionDep,
    Staff,
    TemporalDep,
    taught_cohort,
)
from api.errors import TEMPORAL, ApiError, unavailable
from api.offerings import (
    editable,
    next_release,
    offered_to,
    refuse_unless_editor,
    submission_rules,
    terms_out,
)
from api.params import AssignmentId
from api.routes.assignments.schemas import (
    AssignmentCheck,
    AssignmentCopy,
    AssignmentCopyOut,
    AssignmentCreate,
    AssignmentUpdate,
    CheckResult,
    check_grading_spec,
)
from api.schemas import (
    SIGNED_IN,
    AssignmentOut,
    AssignmentStaffOut,
    assignment_out,
    errors,
    put_and_patch,
)
from gradeflow import languages, redis_keys
from gradeflow.accounts import offer
from gradeflow.models import (
    TEST_ERROR,
    Assignment,
    Cohort,
    Enrollment,
    Extension,
    Offering,
    Submission,
)
from gradeflow.redis_keys import best_effort
from gradeflow.versions import test_version
from gradeflow.vocabulary import Role, Verdict
from gradeflow.worker_languages import languages_served
from workflows.check_solution import SolutionCheck, SolutionCheckResult
from workflows.start import check_solution

router = APIRouter(prefix="/assignments", tags=["assignments"], responses=errors(*SIGNED_IN))
STAFF_ROLES = (Role.INSTRUCTOR, Role.OPERATOR)


async def get_assignment(session, assignment_id: int) -> Assignment:
    assignment = await session.get(Assignment, assignment_id)
    if assignment is None:
        raise ApiError(
            404, f"Assignment {assignment_id} does not exist. GET /api/v1/assignments lists them."
        )
    return assignment


async def purge_assignment_cache(redis) -> None:
    """Every cohort's cached list goes (if Redis does not answer, each expires on its own within five minutes)."""
    keys = await best_effort(redis.smembers(redis_keys.ASSIGNMENT_LISTS), "the assignment lists")
    if keys:
        await best_effort(
            redis.delete(*keys, redis_keys.ASSIGNMENT_LISTS), "the assignment lists' purge"
        )


async def cohorts_taught(session, user) -> list[int]:
    return list(
        (
            await session.execute(select(Enrollment.cohort_id).where(Enrollment.user_id == user.id))
        ).scalars()
    )


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:100] or "assignment"


@router.get("", response_model=list[AssignmentStaffOut] | list[AssignmentOut])
async def list_assignments(user: CurrentUser, session: SessionDep, redis: RedisDep):
    """In course order: staff see every assignment; a student sees those their cohort offers and has released
    (the public view, served from a Redis cache per cohort)."""
    if user.role in STAFF_ROLES:
        rows = (
            await session.execute(select(Assignment).order_by(Assignment.position, Assignment.id))
        ).scalars()
        mine = await editable(session, user)
        return [
            assignment_out(a, True, mine is None or a.id in mine).model_dump(mode="json")
            for a in rows
        ]
    if user.cohort_id is None:
        return []
    key = redis_keys.assignments_public(user.cohort_id)
    cached = await best_effort(redis.get(key), "the assignment list")
    if cached:  # already the JSON a student gets: sent as it is
        return Response(cached, media_type="application/json")
    now = datetime.now(UTC)
    out = [
        assignment_out(a, False).model_dump(mode="json")
        for a in await offered_to(session, user, now)
    ]
    # Kept until the next release in the cohort at most, so a released assignment appears on time.
    upcoming = await next_release(session, user.cohort_id, now)
    ttl = 300 if upcoming is None else max(1, min(300, int((upcoming - now).total_seconds())))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(key, json.dumps(out), ex=ttl)
        pipe.sadd(redis_keys.ASSIGNMENT_LISTS, key)
        await best_effort(pipe.execute(), "the assignment list")
    return out


@router.get(
    "/{assignment_id}", response_model=AssignmentStaffOut | AssignmentOut, responses=errors(404)
)
async def read_assignment(assignment_id: AssignmentId, user: CurrentUser, session: SessionDep):
    """Staff: any assignment. Students: one their cohort offers and has released, with its rules for them now
    (due date, late windows, submissions left)."""
    assignment = await get_assignment(session, assignment_id)
    if user.role in STAFF_ROLES:
        mine = await editable(session, user)
        return assignment_out(assignment, True, mine is None or assignment_id in mine)
    found = await submission_rules(session, user, assignment_id)
    if found is None or not found[0].released(found[1].now):
        raise ApiError(
            404,
            f"Assignment {assignment_id} does not exist or is not offered to your cohort. "
            "GET /api/v1/assignments lists yours.",
        )
    rules, row = found
    return assignment_out(assignment, False).model_copy(update={"terms": terms_out(rules, row)})


async def run_check(temporal: Client, check: SolutionCheck) -> SolutionCheckResult:
    """Grade `check` in the sandbox through the CheckSolution workflow; a 503 when the grader is unavailable."""
    try:
        return await check_solution(temporal, check)
    # Whatever stopped it (Temporal unreachable, no worker within the check's timeout, the workflow failed),
    # the grader could not check the tests: the instructor's answer is the same 503.
    except Exception as exc:  # noqa: BLE001 - see above
        raise unavailable(
            TEMPORAL, f"the grader could not check the tests: {type(exc).__name__}"
        ) from None


async def refuse_broken_tests(temporal: Client, a: Assignment) -> None:
    """Load the tests in the judge (against the reference solution, or an empty one) before saving them: tests
    that fail to load are refused with the error and its line, instead of failing every student's grading. In a
    compiled language, the driver must compile with the reference solution (without one it cannot be tried)."""
    if not a.test_code.strip():
        return
    python = a.language == languages.DEFAULT
    if not python and not a.reference_solution:
        return
    result = await run_check(
        temporal,
        SolutionCheck(
            code=a.reference_solution or "",
            test_code=a.test_code,
            io_cases=[],
            limits=dict(a.limits),
            language=a.language,
            function_tests=list(a.function_tests or []) if not python else [],
            language_options=dict(a.language_options or {}),
        ),
    )
    if result.verdict == TEST_ERROR:
        raise ApiError(422, f"test_code: {result.message}", verdict=result.verdict)
    if result.verdict == Verdict.COMPILE_ERROR:
        raise ApiError(
            422,
            "reference_solution and the driver in test_code do not compile together: "
            + result.message,
            verdict=result.verdict,
        )


async def language_warnings(redis, language: str) -> list[str]:
    """What an instructor should know about a language now: no running worker grades it, and why."""
    served = await languages_served(redis)
    if served is None or language in served:
        return []
    # The workers' machines, not the API's, have the toolchains: say how to install it, not what this one lacks
    found = languages.get(language)
    return [
        f"No running worker grades {found.title} (no running worker has its toolchain: "
        f"{found.install_hint}). Submissions wait, queued, until a worker that has it starts; the reference "
        "solution was not checked."
    ]


@router.post("/check", response_model=CheckResult, responses=errors(403))
async def check_reference_solution(body: AssignmentCheck, _: Instructor, temporal: TemporalDep):
    """Grade a reference solution against draft tests in the sandbox, without saving anything. Tests that fail
    to load answer at once with the verdict test_error and the error's line."""
    result = await run_check(
        temporal,
        SolutionCheck(
            code=body.reference_solution,
            test_code=body.test_code,
            io_cases=[c.model_dump() for c in body.io_cases],
            limits=body.limits.model_dump(exclude_none=True),
            language=body.language,
            function_tests=[t.model_dump() for t in body.function_tests],
            language_options=body.language_options.model_dump(exclude_none=True),
        ),
    )
    return CheckResult(
        verdict=result.verdict, passed=result.passed, message=result.message, tests=result.tests
    )


@router.post("", status_code=201, response_model=AssignmentStaffOut, responses=errors(403, 409))
async def create_assignment(
    body: AssignmentCreate,
    user: Instructor,
    session: SessionDep,
    redis: RedisDep,
    temporal: TemporalDep,
):
    """Save a new assignment, offered (with no dates) to the cohorts you teach. Its tests are loaded in the judge
    first: tests that fail to load are refused (422)."""
    limits = body.limits.model_dump(exclude_none=True)
    io_cases = [c.model_dump() for c in body.io_cases]
    function_tests = [t.model_dump() for t in body.function_tests]
    options = body.language_options.model_dump(exclude_none=True)
    warnings = await language_warnings(redis, body.language)
    assignment = Assignment(
        slug=body.slug or slugify(body.title),
        title=body.title,
        handout=body.handout,
        position=body.order,
        points=body.points,
        language=body.language,
        test_code=body.test_code,
        io_cases=io_cases,
        function_tests=function_tests,
        language_options=options,
        limits=limits,
        reference_solution=body.reference_solution,
        # A new assignment in another language opens the editor with something that compiles
        starter_code=body.starter_code
        or ("" if body.test_code.strip() else languages.get(body.language).starter),
        test_version=test_version(
            body.test_code, io_cases, limits, body.language, function_tests, options
        ),
        created_by=user.id,
    )
    if not warnings:  # a language no worker grades cannot be checked now
        await refuse_broken_tests(temporal, assignment)
    session.add(assignment)
    try:
        await session.commit()
    except IntegrityError:
        raise ApiError(
            409, f"An assignment with slug '{assignment.slug}' already exists; choose another slug."
        ) from None
    await offer(session, cohorts=await cohorts_taught(session, user), assignments=[assignment.id])
    await session.commit()
    await session.refresh(assignment)
    await purge_assignment_cache(redis)
    return assignment_out(assignment, staff=True).model_copy(update={"warnings": warnings})


UPDATE_HELP = (
    "Change some fields; a field left out keeps its value, `limits` merge field by field, and only "
    "reference_solution may be null (removes it), as may a compile limit (back to its default). PUT and PATCH (JSON merge patch, RFC 7396) are the same. "
    "Only staff who teach every cohort it is offered to (or an operator) may change it; anyone else gets 403 "
    "and copies it. A change to tests or limits gives it a new test version; changed tests are loaded in the "
    "judge first and refused (422) when they fail to load."
)


@put_and_patch(
    router,
    "/{assignment_id}",
    patch_name="patch_assignment",
    body="AssignmentUpdate",
    response_model=AssignmentStaffOut,
    responses=errors(403, 404),
    description=UPDATE_HELP,
)
async def update_assignment(
    assignment_id: AssignmentId,
    body: AssignmentUpdate,
    user: Staff,
    session: SessionDep,
    redis: RedisDep,
    temporal: TemporalDep,
):
    assignment = await get_assignment(session, assignment_id)
    await refuse_unless_editor(session, user, assignment)
    changes = body.model_dump(exclude_unset=True)
    if "limits" in changes:
        assert body.limits is not None  # refused as null by the schema
        merged = {**assignment.limits, **body.limits.model_dump(exclude_unset=True)}
        # A compile limit set to null goes back to its default (only those may be null)
        changes["limits"] = {k: v for k, v in merged.items() if v is not None}
    if "io_cases" in changes:
        changes["io_cases"] = [c.model_dump() for c in body.io_cases or []]
    if "function_tests" in changes:
        changes["function_tests"] = [t.model_dump() for t in body.function_tests or []]
    if "language_options" in changes:
        assert body.language_options is not None  # refused as null by the schema
        changes["language_options"] = body.language_options.model_dump(exclude_none=True)
    if "order" in changes:
        changes["position"] = changes.pop("order")
    for name, value in changes.items():
        setattr(assignment, name, value)
    try:
        check_grading_spec(
            assignment.language,
            assignment.test_code,
            assignment.io_cases or [],
            assignment.function_tests or [],
        )
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    warnings = await language_warnings(redis, assignment.language)
    tried_by = (
        {"test_code"}
        if assignment.language == languages.DEFAULT
        else {"test_code", "function_tests", "reference_solution", "language_options"}
    )
    if changes.keys() & tried_by and not warnings:
        await refuse_broken_tests(temporal, assignment)
    assignment.test_version = test_version(
        assignment.test_code,
        assignment.io_cases,
        assignment.limits,
        assignment.language,
        assignment.function_tests,
        assignment.language_options,
    )
    await session.commit()
    await session.refresh(assignment)
    await purge_assignment_cache(redis)
    return assignment_out(assignment, staff=True).model_copy(update={"warnings": warnings})


async def free_slug(session, wanted: str) -> str:
    """`wanted`, or with -2, -3 … after it: the first that no assignment has."""
    taken = set(
        (
            await session.execute(select(Assignment.slug).where(Assignment.slug.like(f"{wanted}%")))
        ).scalars()
    )
    n, slug = 1, wanted
    while slug in taken:
        n += 1
        slug = f"{wanted[: 100 - len(str(n)) - 1]}-{n}"
    return slug


@router.post(
    "/{assignment_id}/copy",
    status_code=201,
    response_model=AssignmentCopyOut,
    responses=errors(403, 404, 409),
)
async def copy_assignment(
    assignment_id: AssignmentId,
    body: AssignmentCopy,
    user: Instructor,
    session: SessionDep,
    redis: RedisDep,
):
    """A copy of the assignment (its handout, tests, I/O cases, limits, points, language, starter code and
    reference solution) that is yours to edit, offered to a cohort you teach. Where that cohort offered the
    original and none of its students submitted to it, the copy takes the original's place there, with its
    dates and extensions; otherwise both stay offered."""
    original = await get_assignment(session, assignment_id)
    if body.cohort is not None:
        cohorts = [await taught_cohort(session, user, body.cohort, "can offer assignments to it")]
    else:
        taught = (
            await session.execute(
                select(Cohort)
                .join(Enrollment, Enrollment.cohort_id == Cohort.id)
                .where(Enrollment.user_id == user.id)
                .order_by(Cohort.slug)
            )
        ).scalars()
        offering_cohorts = set(
            (
                await session.execute(
                    select(Offering.cohort_id).where(Offering.assignment_id == assignment_id)
                )
            ).scalars()
        )
        cohorts = list(taught)
        cohorts = [c for c in cohorts if c.id in offering_cohorts] or cohorts
    wanted = body.slug or (
        f"{original.slug[: 99 - len(cohorts[0].slug)]}-{cohorts[0].slug}"
        if len(cohorts) == 1
        else f"{original.slug[:94]}-copy"
    )
    if body.slug and await session.scalar(select(exists().where(Assignment.slug == body.slug))):
        raise ApiError(
            409, f"An assignment with slug '{body.slug}' already exists; choose another slug."
        )
    copy = Assignment(
        slug=await free_slug(session, wanted),
        title=body.title or original.title,
        handout=original.handout,
        position=original.position,
        points=original.points,
        language=original.language,
        test_code=original.test_code,
        io_cases=original.io_cases,
        function_tests=original.function_tests,
        language_options=original.language_options,
        limits=original.limits,
        reference_solution=original.reference_solution,
        starter_code=original.starter_code,
        test_version=original.test_version,
        created_by=user.id,
        copied_from=original.id,
    )
    session.add(copy)
    try:
        await session.flush()
    except IntegrityError:
        raise ApiError(409, "Another copy took that slug meanwhile; copy again.") from None
    replaced, kept = [], []
    for cohort in cohorts:
        terms = await session.get(Offering, (cohort.id, original.id))
        if terms is None:
            session.add(Offering(cohort_id=cohort.id, assignment_id=copy.id, policy_version=1))
            continue
        session.add(
            Offering(
                cohort_id=cohort.id,
                assignment_id=copy.id,
                release_at=terms.release_at,
                due_at=terms.due_at,
                close_at=terms.close_at,
                late_windows=terms.late_windows,
                max_submissions=terms.max_submissions,
                min_minutes_between=terms.min_minutes_between,
                policy_version=1,
            )
        )
        await session.flush()
        submitted = await session.scalar(
            select(
                exists().where(
                    Submission.cohort_id == cohort.id, Submission.assignment_id == original.id
                )
            )
        )
        if submitted:
            kept.append(cohort.slug)
            continue
        await session.execute(
            update(Extension)
            .where(Extension.cohort_id == cohort.id, Extension.assignment_id == original.id)
            .values(assignment_id=copy.id)
        )
        await session.delete(terms)
        replaced.append(cohort.slug)
    await session.commit()
    await session.refresh(copy)
    await purge_assignment_cache(redis)
    out = assignment_out(copy, staff=True).model_dump()
    return AssignmentCopyOut(**out, replaced_in=replaced, original_kept_in=kept)
