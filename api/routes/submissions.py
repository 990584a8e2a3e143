"""Submissions: accept code, answer identical code from the cache, queue the rest for grading, report status."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, RedisDep, SessionDep, SettingsDep, teaches
from api.errors import ApiError
from api.routes.assignments import get_assignment
from api.schemas import SubmissionCreate, SubmissionOut
from gradeflow import redis_keys
from gradeflow.models import PENDING_STATUSES, Cohort, Enrollment, Submission, User
from gradeflow.versions import code_hash
from gradeflow.views import result_payload, submission_payload
from workflows.config import grade_workflow_id

router = APIRouter(tags=["submissions"])
log = logging.getLogger(__name__)


def with_links(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "links": {"self": f"/api/v1/submissions/{payload['id']}",
                                 "assignment": f"/api/v1/assignments/{payload['assignment_id']}"}}


def check_code(code: str, max_bytes: int) -> None:
    try:
        size = len(code.encode("utf-8"))
    except UnicodeEncodeError:
        raise ApiError(422, "code is not valid UTF-8 (it contains unpaired surrogates). Send UTF-8 text.")
    if size > max_bytes:
        raise ApiError(413, f"code is {size:,} bytes; the limit is {max_bytes:,} bytes ({max_bytes // 1024} KiB). "
                            "Submit only your solution.")
    if not code.strip():
        raise ApiError(422, "code is empty. Paste your solution into the code field.")


async def check_rate(redis: Redis, user: User, per_minute: int) -> None:
    window = int(time.time() // 60)
    key = redis_keys.rate_limit(user.id, window)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(key).expire(key, 120).execute()
    except Exception:  # noqa: BLE001 - without Redis, accept rather than refuse
        return
    if count > per_minute:
        retry = 60 - int(time.time()) % 60
        raise ApiError(429, f"Too many submissions: at most {per_minute} a minute. Try again in {retry} s.",
                       headers={"Retry-After": str(retry)})


async def pending_submission(session: AsyncSession, user_id: int) -> uuid.UUID | None:
    return (await session.execute(
        select(Submission.id).where(Submission.user_id == user_id, Submission.status.in_(PENDING_STATUSES))
    )).scalars().first()


def pending_error(pending_id: uuid.UUID | str) -> ApiError:
    return ApiError(409, f"You already have a submission being graded ({pending_id}). Wait for its result, "
                         "then submit again.", pending_submission_id=str(pending_id))


async def cached_result(session: AsyncSession, redis: Redis, assignment_id: int, version: str,
                        digest: str) -> dict[str, Any] | None:
    """An earlier grading of the same code against the same tests: Redis first, PostgreSQL as the fallback."""
    try:
        hit = await redis.get(redis_keys.result_cache(assignment_id, version, digest))
        if hit:
            return json.loads(hit)
    except Exception:  # noqa: BLE001
        pass
    earlier = (await session.execute(
        select(Submission).where(Submission.assignment_id == assignment_id, Submission.code_hash == digest,
                                 Submission.test_version == version, Submission.status == "graded")
        .order_by(Submission.graded_at.desc()).limit(1)
    )).scalar_one_or_none()
    if earlier is None:
        return None
    return result_payload(earlier)


async def cohort_of(session: AsyncSession, user_id: int) -> Cohort | None:
    return (await session.execute(
        select(Cohort).join(Enrollment, Enrollment.cohort_id == Cohort.id).where(Enrollment.user_id == user_id)
        .order_by(Cohort.id).limit(1)
    )).scalar_one_or_none()


async def cache_status(redis: Redis, payload: dict[str, Any]) -> None:
    try:
        await redis.set(redis_keys.submission_status(payload["id"]), json.dumps(payload),
                        ex=redis_keys.STATUS_TTL_SECONDS)
    except Exception:  # noqa: BLE001
        pass


@router.post("/assignments/{assignment_id}/submissions", status_code=202, response_model=SubmissionOut,
             responses={201: {"model": SubmissionOut, "description": "Identical code was graded before: cached"},
                        409: {"description": "Another submission of yours is still pending"},
                        413: {"description": "Code over 64 KiB"}, 429: {"description": "Too many submissions"}})
async def create_submission(assignment_id: int, body: SubmissionCreate, user: CurrentUser, session: SessionDep,
                            redis: RedisDep, settings: SettingsDep):
    """Submit code. 202: queued for grading (poll `links.self`). 201: identical code was graded before."""
    assignment = await get_assignment(session, assignment_id)
    check_code(body.code, settings.max_code_bytes)
    await check_rate(redis, user, settings.submissions_per_minute)
    pending = await pending_submission(session, user.id)
    if pending is not None:
        raise pending_error(pending)

    digest = code_hash(body.code)
    cohort = await cohort_of(session, user.id)
    sub_id = uuid.uuid4()
    sub = Submission(id=sub_id, assignment_id=assignment.id, user_id=user.id,
                     cohort_id=cohort.id if cohort else None, code=body.code, code_hash=digest,
                     max_score=float(assignment.points), workflow_id=grade_workflow_id(str(sub_id)))
    hit = await cached_result(session, redis, assignment.id, assignment.test_version, digest)
    if hit is not None:
        sub.status, sub.cached, sub.cached_from, sub.workflow_id = "graded", True, uuid.UUID(hit["submission_id"]), None
        sub.passed, sub.score, sub.verdict, sub.tests = hit["passed"], hit["score"], hit["verdict"], hit["tests"]
        sub.details = hit.get("details", {})
        sub.test_version, sub.graded_at = assignment.test_version, datetime.now(timezone.utc)
    session.add(sub)
    try:
        await session.commit()
    except IntegrityError:  # a concurrent request won the one-pending-per-user race
        await session.rollback()
        raise pending_error(await pending_submission(session, user.id) or "unknown")
    await session.refresh(sub)
    payload = submission_payload(sub)
    await cache_status(redis, payload)
    ids = {"submission_id": str(sub.id), "user_id": user.id, "assignment_id": assignment.id,
           "workflow_id": sub.workflow_id}
    if hit is not None:
        log.info("submission %s answered from the result cache", sub.id, extra=ids | {"verdict": sub.verdict})
        return JSONResponse(with_links(payload), status_code=201)
    log.info("submission %s accepted", sub.id, extra=ids)
    try:
        await redis.xadd(redis_keys.INTAKE_STREAM, {
            "submission_id": str(sub.id), "assignment_id": str(assignment.id), "user_id": str(user.id),
            "cohort": cohort.slug if cohort else ""})
    except Exception as exc:  # noqa: BLE001 - the reconciler starts it from PostgreSQL
        log.warning("intake stream unavailable, submission %s left to the reconciler: %s", sub.id, exc, extra=ids)
    return with_links(payload)


async def may_view(session: AsyncSession, user: User, owner_id: int, cohort_id: int | None) -> bool:
    if user.id == owner_id or user.role == "operator":
        return True
    return user.role == "instructor" and cohort_id is not None and await teaches(session, user, cohort_id)


@router.get("/submissions/{submission_id}", response_model=SubmissionOut)
async def read_submission(submission_id: str, user: CurrentUser, session: SessionDep, redis: RedisDep):
    """Status and per-test feedback. Served from Redis while fresh; students see only their own."""
    not_found = ApiError(404, f"Submission {submission_id} not found (or it is not yours).")
    try:
        sub_uuid = uuid.UUID(submission_id)
    except ValueError:
        raise ApiError(422, f"'{submission_id}' is not a submission id (a UUID).")
    try:
        cached = await redis.get(redis_keys.submission_status(str(sub_uuid)))
    except Exception:  # noqa: BLE001
        cached = None
    if cached:
        payload = json.loads(cached)
        if payload["user_id"] == user.id or user.role == "operator":
            return with_links(payload)
    sub = await session.get(Submission, sub_uuid)
    if sub is None or not await may_view(session, user, sub.user_id, sub.cohort_id):
        raise not_found
    payload = submission_payload(sub)
    if sub.status not in PENDING_STATUSES:
        await cache_status(redis, payload)
    return with_links(payload)


@router.get("/submissions/{submission_id}/code", tags=["submissions"])
async def read_submission_code(submission_id: uuid.UUID, user: CurrentUser, session: SessionDep):
    """The submitted source: for its author, the author's instructors and operators."""
    sub = await session.get(Submission, submission_id)
    if sub is None or not await may_view(session, user, sub.user_id, sub.cohort_id):
        raise ApiError(404, f"Submission {submission_id} not found (or it is not yours).")
    return {"id": str(sub.id), "code": sub.code}
