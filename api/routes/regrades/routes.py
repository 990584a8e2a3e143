"""Regrades: instructors re-grade a cohort (or one assignment across it), watch, pause, resume, cancel it, and
read whose score changed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query
from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.deps import (
    Instructor,
    Principal,
    RedisDep,
    SessionDep,
    TemporalDep,
    taught_cohort,
    taught_row,
)
from api.downloads import CSV_CONTENT, csv_file
from api.errors import TEMPORAL, ApiError, dependency_of, unavailable
from api.params import BatchId, uuid_of
from api.routes.regrades.schemas import RegradeChange, RegradeCreate, RegradeOut
from api.schemas import STAFF, errors
from gradeflow import redis_keys
from gradeflow.models import (
    Assignment,
    Cohort,
    Enrollment,
    GradingRun,
    RegradeBatch,
    Submission,
    User,
)
from gradeflow.redis_keys import best_effort
from gradeflow.vocabulary import BATCH_ACTIVE, BatchHold, BatchStatus
from workflows.config import regrade_workflow_id
from workflows.regrade_cohort import RegradeSettings
from workflows.start import start_regrade_workflow

router = APIRouter(prefix="/regrades", tags=["regrades"], responses=errors(*STAFF))


def regrade_out(batch: RegradeBatch, cohort_slug: str) -> RegradeOut:
    now = datetime.now(UTC)
    elapsed = (
        ((batch.finished_at or now) - batch.started_at).total_seconds() if batch.started_at else 0.0
    )
    rate = batch.done / elapsed if elapsed > 0 else 0.0
    eta = (
        (batch.total - batch.done) / rate
        if rate > 0 and batch.status in (BatchStatus.RUNNING, BatchStatus.QUEUED)
        else None
    )
    return RegradeOut(
        id=str(batch.id),
        cohort=cohort_slug,
        assignment_id=batch.assignment_id,
        status=batch.status,
        total=batch.total,
        done=batch.done,
        changed=batch.changed,
        errors=batch.errors,
        rate_per_second=round(rate, 2),
        eta_seconds=round(eta, 1) if eta is not None else None,
        workflow_id=batch.workflow_id,
        created_at=batch.created_at,
        started_at=batch.started_at,
        finished_at=batch.finished_at,
        actions=[action for action, control in CONTROLS.items() if batch.status in control.allowed],
        links={
            "self": f"/api/v1/regrades/{batch.id}",
            "changes": f"/api/v1/regrades/{batch.id}/changes",
        },
    )


async def get_batch(
    session: AsyncSession, user: Principal, batch_id: str
) -> tuple[RegradeBatch, str]:
    # Another cohort's batch is not found: its existence is not told (what the API has always answered).
    return await taught_row(
        session,
        user,
        RegradeBatch,
        uuid_of(batch_id, "regrade batch"),
        "regrade batch",
        hidden=True,
    )


@router.post("", status_code=202, response_model=RegradeOut, responses=errors(404, 409))
async def create_regrade(
    body: RegradeCreate, user: Instructor, session: SessionDep, temporal: TemporalDep
):
    """Re-grade the latest submission of every student of `cohort` (optionally one assignment) against the
    current tests. Follow it at `links.self`."""
    cohort = await taught_cohort(session, user, body.cohort, "can regrade it")
    if body.assignment_id is not None and await session.get(Assignment, body.assignment_id) is None:
        raise ApiError(404, f"Assignment {body.assignment_id} does not exist.")
    running = (
        (
            await session.execute(
                select(RegradeBatch.id).where(
                    RegradeBatch.cohort_id == cohort.id,
                    RegradeBatch.status.in_(BATCH_ACTIVE),
                    (RegradeBatch.assignment_id.is_(None))
                    | (RegradeBatch.assignment_id == body.assignment_id)
                    if body.assignment_id is not None
                    else true(),
                )
            )
        )
        .scalars()
        .first()
    )
    if running is not None:
        raise ApiError(
            409,
            f"Regrade {running} of this cohort is still in progress; wait for it, or cancel it.",
            running_batch_id=str(running),
        )
    batch = RegradeBatch(
        id=uuid.uuid4(),
        created_by=user.id,
        cohort_id=cohort.id,
        assignment_id=body.assignment_id,
        status=BatchStatus.QUEUED,
    )
    batch.workflow_id = regrade_workflow_id(str(batch.id))
    session.add(batch)
    await session.commit()
    try:
        await start_regrade_workflow(
            temporal,
            str(batch.id),
            batch.workflow_id,
            cohort.id,
            cohort.slug,
            body.assignment_id,
            RegradeSettings(
                strategy=body.strategy,
                page_size=body.page_size,
                chunk_size=body.chunk_size,
                pages_per_run=body.pages_per_run,
            ),
        )
    except Exception as exc:
        # Nothing half-started: the batch is recorded as failed, and the answer says why.
        batch.status, batch.finished_at = BatchStatus.FAILED, datetime.now(UTC)
        await session.commit()
        if dependency_of(exc) == TEMPORAL:
            raise unavailable(TEMPORAL, "could not start the regrade") from None
        if isinstance(exc, RPCError):  # e.g. a search attribute the worker could not register
            raise unavailable(TEMPORAL, f"it refused the regrade: {exc.message}") from None
        raise
    await session.refresh(batch)
    return regrade_out(batch, cohort.slug)


@router.get("", response_model=list[RegradeOut])
async def list_regrades(
    user: Instructor, session: SessionDep, limit: int = Query(50, ge=1, le=500)
):
    """Regrades of the cohorts you teach, newest first."""
    rows = (
        await session.execute(
            select(RegradeBatch, Cohort.slug)
            .join(Cohort, RegradeBatch.cohort_id == Cohort.id)
            .join(Enrollment, (Enrollment.cohort_id == Cohort.id) & (Enrollment.user_id == user.id))
            .order_by(RegradeBatch.created_at.desc())
            .limit(limit)
        )
    ).all()
    return [regrade_out(batch, slug) for batch, slug in rows]


@router.get("/{batch_id}", response_model=RegradeOut, responses=errors(404))
async def read_regrade(batch_id: BatchId, user: Instructor, session: SessionDep):
    """Status, counts, rate per second and ETA."""
    return regrade_out(*await get_batch(session, user, batch_id))


@dataclass(frozen=True)
class Control:
    """An instructor's action on a batch: the statuses it is allowed from, the status it sets, and the flag it
    leaves in Redis for the gradings in flight (None: clear it)."""

    allowed: tuple[BatchStatus, ...]
    new_status: BatchStatus
    flag: str | None


CONTROLS = {
    "pause": Control(
        (BatchStatus.QUEUED, BatchStatus.RUNNING), BatchStatus.PAUSED, BatchHold.PAUSED
    ),
    "resume": Control((BatchStatus.PAUSED,), BatchStatus.RUNNING, None),
    "cancel": Control(
        (BatchStatus.QUEUED, BatchStatus.RUNNING, BatchStatus.PAUSED),
        BatchStatus.CANCELLING,
        BatchHold.CANCELLED,
    ),
}


async def _control(
    temporal: Client, session: AsyncSession, redis, user: Principal, batch_id: str, action: str
) -> RegradeOut:
    control = CONTROLS[action]
    batch, slug = await get_batch(session, user, batch_id)
    if batch.status not in control.allowed:
        raise ApiError(
            409,
            f"Regrade {batch_id} is {batch.status}; it can be {action}d only when "
            f"{' or '.join(control.allowed)}.",
        )
    before = batch.status
    # The flag first: gradings in flight check it before each submission, so they stop within one grading.
    # Without Redis the activities fall back to the batch's status in PostgreSQL.
    key = redis_keys.regrade_control(batch_id)
    flag = control.flag
    await best_effort(
        redis.set(key, flag, ex=7 * 24 * 3600) if flag else redis.delete(key), f"the {action} flag"
    )
    batch.status = control.new_status
    await session.commit()
    try:
        workflow_id = batch.workflow_id or regrade_workflow_id(str(batch.id))
        await temporal.get_workflow_handle(workflow_id).signal(action)
    except Exception as exc:
        # The workflow did not hear it: put the batch back as it was, so the instructor can simply try again.
        batch.status = before
        await session.commit()
        was = CONTROLS["pause"].flag if before == BatchStatus.PAUSED else None
        await best_effort(
            redis.set(key, was, ex=7 * 24 * 3600) if was else redis.delete(key),
            f"the {action} flag",
        )
        if dependency_of(exc) == TEMPORAL:
            raise unavailable(TEMPORAL, f"could not {action} the regrade") from None
        if (
            isinstance(exc, RPCError)
            and exc.status == RPCStatusCode.NOT_FOUND
            and action == "cancel"
        ):
            # Its workflow has ended (terminated by an operator, or timed out): nothing left to stop.
            batch.status, batch.finished_at = BatchStatus.CANCELLED, datetime.now(UTC)
            await session.commit()
            await session.refresh(batch)
            return regrade_out(batch, slug)
        if isinstance(exc, RPCError):
            raise ApiError(
                409,
                f"The regrade's workflow did not take the {action}: {exc.message}. If it has ended, "
                "cancel the regrade to close it.",
            ) from None
        raise
    await session.refresh(batch)
    return regrade_out(batch, slug)


@router.post("/{batch_id}/pause", response_model=RegradeOut, responses=errors(404, 409))
async def pause_regrade(
    batch_id: BatchId, user: Instructor, session: SessionDep, redis: RedisDep, temporal: TemporalDep
):
    """Stop starting new gradings (within one grading); what is done stays recorded."""
    return await _control(temporal, session, redis, user, batch_id, "pause")


@router.post("/{batch_id}/resume", response_model=RegradeOut, responses=errors(404, 409))
async def resume_regrade(
    batch_id: BatchId, user: Instructor, session: SessionDep, redis: RedisDep, temporal: TemporalDep
):
    return await _control(temporal, session, redis, user, batch_id, "resume")


@router.post("/{batch_id}/cancel", response_model=RegradeOut, responses=errors(404, 409))
async def cancel_regrade(
    batch_id: BatchId, user: Instructor, session: SessionDep, redis: RedisDep, temporal: TemporalDep
):
    """End the batch; gradings already done stay recorded. The status becomes `cancelled` once it has stopped."""
    return await _control(temporal, session, redis, user, batch_id, "cancel")


@router.get(
    "/{batch_id}/changes",
    response_model=list[RegradeChange],
    responses={200: {"content": CSV_CONTENT}, **errors(404)},
)
async def regrade_changes(
    batch_id: BatchId,
    user: Instructor,
    session: SessionDep,
    format: Literal["json", "csv"] = Query("json", description="json or csv"),
):
    """Whose score the regrade changed: student, assignment, old score, new score."""
    batch, slug = await get_batch(session, user, batch_id)
    rows = (
        await session.execute(
            select(
                User.name,
                Assignment.id,
                Assignment.title,
                GradingRun.previous_score,
                GradingRun.score,
                GradingRun.submission_id,
            )
            .join(Submission, Submission.id == GradingRun.submission_id)
            .join(User, User.id == Submission.user_id)
            .join(Assignment, Assignment.id == Submission.assignment_id)
            .where(
                GradingRun.regrade_batch_id == batch.id,
                GradingRun.previous_score.is_distinct_from(GradingRun.score),
            )
            .order_by(User.name, Assignment.position, Assignment.id)
        )
    ).all()
    changes = [
        RegradeChange(
            student=r[0],
            assignment_id=r[1],
            assignment=r[2],
            old_score=r[3],
            new_score=r[4],
            submission_id=str(r[5]),
        )
        for r in rows
    ]
    if format == "csv":
        return csv_file(
            f"regrade-{batch.id}-changes.csv",
            list(RegradeChange.model_fields),
            (c.model_dump().values() for c in changes),
        )
    return changes
