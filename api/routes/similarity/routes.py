"""Similarity reports for the instructors of a cohort: start one for an assignment, follow it, read the pairs
ranked by similarity, open a pair side by side with its shared fragments, flag or dismiss it with a note, export
CSV, cancel. Students never reach these routes; instructors reach only the cohorts they teach (others: 403)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from temporalio.service import RPCError

from api.deps import Instructor, Principal, SessionDep, TemporalDep, taught_cohort, taught_row
from api.downloads import CSV_CONTENT, csv_file
from api.errors import TEMPORAL, ApiError, dependency_of, unavailable
from api.params import AssignmentFilter, ReportId, Text, uuid_of
from api.routes.similarity.schemas import (
    SimilarityCreate,
    SimilarityReportOut,
    SimilarityReview,
    SimilarPairDetail,
    SimilarPairOut,
)
from api.schemas import STAFF, errors
from gradeflow.models import (
    Offering,
    PairNote,
    SimilarityReport,
    SimilarPair,
    Submission,
    User,
)
from gradeflow.vocabulary import FINAL_STATUSES, REPORT_ACTIVE, PairReview, ReportStatus
from workflows.config import similarity_workflow_id
from workflows.start import start_similarity_workflow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/similarity", tags=["similarity"], responses=errors(*STAFF))
SEE_REPORTS = "see its similarity reports"
CSV_COLUMNS = [
    "rank",
    "similarity",
    "student_a",
    "student_b",
    "share_a",
    "share_b",
    "longest_fragment_lines",
    "review",
    "note",
    "submission_a",
    "submission_b",
]


async def report_of(
    session: AsyncSession, user: Principal, report_id: str
) -> tuple[SimilarityReport, str]:
    return await taught_row(
        session,
        user,
        SimilarityReport,
        uuid_of(report_id, "similarity report"),
        "similarity report",
    )


async def newer_than(session: AsyncSession, report: SimilarityReport) -> int:
    """Students whose latest finished submission came after the report's cutoff."""
    return (
        await session.scalar(
            select(func.count(func.distinct(Submission.user_id))).where(
                Submission.cohort_id == report.cohort_id,
                Submission.assignment_id == report.assignment_id,
                Submission.status.in_(FINAL_STATUSES),
                Submission.created_at > report.cutoff,
            )
        )
        or 0
    )


async def pairs_of(
    session: AsyncSession, report: SimilarityReport, limit: int, rank: int | None = None
) -> list[tuple]:
    a_sub, b_sub = aliased(Submission), aliased(Submission)
    a_user, b_user = aliased(User), aliased(User)
    query = (
        select(SimilarPair, a_user.name, b_user.name, PairNote)
        .join(a_sub, a_sub.id == SimilarPair.a_submission)
        .join(b_sub, b_sub.id == SimilarPair.b_submission)
        .join(a_user, a_user.id == a_sub.user_id)
        .join(b_user, b_user.id == b_sub.user_id)
        .outerjoin(
            PairNote,
            tuple_(PairNote.a_submission, PairNote.b_submission)
            == tuple_(SimilarPair.a_submission, SimilarPair.b_submission),
        )
        .where(SimilarPair.report_id == report.id)
        .order_by(SimilarPair.rank)
        .limit(limit)
    )
    if rank is not None:
        query = query.where(SimilarPair.rank == rank)
    return list((await session.execute(query)).all())


async def pair_ranked(session: AsyncSession, report: SimilarityReport, rank: int) -> tuple:
    rows = await pairs_of(session, report, 1, rank)
    if not rows:
        raise ApiError(404, f"Report {report.id} has no pair ranked {rank}.")
    return rows[0]


def pair_out(row: tuple) -> SimilarPairOut:
    pair, a_name, b_name, review = row
    return SimilarPairOut(
        rank=pair.rank,
        a_student=a_name,
        b_student=b_name,
        a_submission=str(pair.a_submission),
        b_submission=str(pair.b_submission),
        similarity=pair.similarity,
        share_a=pair.share_a,
        share_b=pair.share_b,
        longest_lines=pair.longest_lines,
        review=review.review if review else PairReview.OPEN,
        note=review.note if review else "",
    )


async def report_out(
    session: AsyncSession, report: SimilarityReport, slug: str, pairs: int = 100
) -> SimilarityReportOut:
    rows = await pairs_of(session, report, pairs) if pairs else []
    return SimilarityReportOut(
        id=str(report.id),
        cohort=slug,
        assignment_id=report.assignment_id,
        status=ReportStatus(report.status),
        created_at=report.created_at,
        cutoff=report.cutoff,
        finished_at=report.finished_at,
        total=report.total,
        fingerprinted=report.fingerprinted,
        candidates=report.candidates,
        newer=await newer_than(session, report),
        error=report.error,
        pairs=[pair_out(r) for r in rows],
        links={
            "self": f"/api/v1/similarity/reports/{report.id}",
            "csv": f"/api/v1/similarity/reports/{report.id}/export",
        },
    )


@router.post(
    "/reports",
    response_model=SimilarityReportOut,
    status_code=202,
    responses=errors(404, 409),
)
async def create_similarity_report(
    body: SimilarityCreate, user: Instructor, session: SessionDep, temporal: TemporalDep
):
    """Compare each student's latest submission of an assignment in a cohort: a SimilarityReport workflow on the
    low-priority queue. Follow it at `links.self`."""
    cohort = await taught_cohort(session, user, body.cohort, SEE_REPORTS)
    if await session.get(Offering, (cohort.id, body.assignment_id)) is None:
        raise ApiError(
            404, f"Cohort '{body.cohort}' is not offered assignment {body.assignment_id}."
        )
    running = await session.scalar(
        select(SimilarityReport.id).where(
            SimilarityReport.cohort_id == cohort.id,
            SimilarityReport.assignment_id == body.assignment_id,
            SimilarityReport.status.in_(REPORT_ACTIVE),
        )
    )
    if running is not None:
        raise ApiError(
            409,
            f"Similarity report {running} of this assignment is still running; wait for it, or cancel it.",
            running_report_id=str(running),
        )
    now = datetime.now(UTC)
    report = SimilarityReport(
        id=uuid.uuid4(),
        cohort_id=cohort.id,
        assignment_id=body.assignment_id,
        status=ReportStatus.QUEUED,
        created_by=user.id,
        created_at=now,
        cutoff=now,
        total=0,
        fingerprinted=0,
        candidates=0,
    )
    report.workflow_id = similarity_workflow_id(str(report.id))
    session.add(report)
    await session.commit()
    try:
        await start_similarity_workflow(temporal, str(report.id), cohort.slug, body.assignment_id)
    except Exception as exc:
        # Nothing half-started: the report is recorded as failed, and the answer says why.
        report.status, report.finished_at = ReportStatus.FAILED, datetime.now(UTC)
        report.error = "could not start: Temporal unavailable"
        await session.commit()
        if dependency_of(exc) == TEMPORAL:
            raise unavailable(TEMPORAL, "could not start the report") from None
        if isinstance(exc, RPCError):
            raise unavailable(TEMPORAL, f"it refused the report: {exc.message}") from None
        raise
    return await report_out(session, report, cohort.slug, pairs=0)


@router.get("/reports", response_model=list[SimilarityReportOut], responses=errors(404))
async def list_similarity_reports(
    user: Instructor,
    session: SessionDep,
    cohort: Annotated[Text, Query(max_length=100, description="The cohort's slug")],
    assignment_id: AssignmentFilter = None,
    limit: int = Query(20, ge=1, le=200),
):
    """A cohort's reports, most recent first (without their pairs)."""
    taught = await taught_cohort(session, user, cohort, SEE_REPORTS)
    query = select(SimilarityReport).where(SimilarityReport.cohort_id == taught.id)
    if assignment_id is not None:
        query = query.where(SimilarityReport.assignment_id == assignment_id)
    reports = (
        await session.execute(query.order_by(SimilarityReport.created_at.desc()).limit(limit))
    ).scalars()
    return [await report_out(session, r, cohort, pairs=0) for r in reports]


@router.get("/reports/{report_id}", response_model=SimilarityReportOut, responses=errors(404))
async def read_similarity_report(
    report_id: ReportId,
    user: Instructor,
    session: SessionDep,
    pairs: int = Query(100, ge=0, le=1000, description="the most similar pairs to include"),
):
    """A report's progress and its pairs ranked by similarity, with how many students submitted since."""
    report, slug = await report_of(session, user, report_id)
    return await report_out(session, report, slug, pairs)


@router.get(
    "/reports/{report_id}/export",
    responses={200: {"content": CSV_CONTENT}, **errors(404)},
    response_class=Response,
)
async def export_similarity_report(report_id: ReportId, user: Instructor, session: SessionDep):
    """Every pair of the report as CSV, most similar first."""
    report, slug = await report_of(session, user, report_id)
    return csv_file(
        f"similarity-{slug}-{report.assignment_id}.csv",
        CSV_COLUMNS,
        (
            (
                p.rank,
                p.similarity,
                p.a_student,
                p.b_student,
                p.share_a,
                p.share_b,
                p.longest_lines,
                p.review,
                p.note,
                p.a_submission,
                p.b_submission,
            )
            for p in map(pair_out, await pairs_of(session, report, 100_000))
        ),
    )


@router.get(
    "/reports/{report_id}/pairs/{rank}", response_model=SimilarPairDetail, responses=errors(404)
)
async def read_similar_pair(
    report_id: ReportId,
    user: Instructor,
    session: SessionDep,
    rank: int = Path(ge=1, le=100_000, description="the pair's rank in the report"),
):
    """One pair side by side: both codes and the fragments they share (line ranges in each, largest first)."""
    report, _ = await report_of(session, user, report_id)
    row = await pair_ranked(session, report, rank)
    pair = row[0]
    # The two codes for this pair only: listings and exports never read code
    codes = dict(
        (
            await session.execute(
                select(Submission.id, Submission.code).where(
                    Submission.id.in_([pair.a_submission, pair.b_submission])
                )
            )
        ).all()
    )
    return SimilarPairDetail(
        **pair_out(row).model_dump(),
        a_code=codes[pair.a_submission],
        b_code=codes[pair.b_submission],
        fragments=pair.fragments,
    )


@router.put(
    "/reports/{report_id}/pairs/{rank}/review",
    response_model=SimilarPairOut,
    responses=errors(404),
)
async def review_similar_pair(
    report_id: ReportId,
    body: SimilarityReview,
    user: Instructor,
    session: SessionDep,
    rank: int = Path(ge=1, le=100_000, description="the pair's rank in the report"),
):
    """Flag or dismiss a pair with a note (kept for these two submissions in later reports too)."""
    report, _ = await report_of(session, user, report_id)
    pair = (await pair_ranked(session, report, rank))[0]
    values = {
        "a_submission": pair.a_submission,
        "b_submission": pair.b_submission,
        "review": body.review,
        "note": body.note,
        "reviewed_by": user.id,
        "reviewed_at": datetime.now(UTC),
    }
    await session.execute(
        pg_insert(PairNote)
        .values(values)
        .on_conflict_do_update(
            index_elements=["a_submission", "b_submission"],
            set_={k: v for k, v in values.items() if k not in ("a_submission", "b_submission")},
        )
    )
    await session.commit()
    return pair_out(await pair_ranked(session, report, rank))


@router.post(
    "/reports/{report_id}/cancel",
    response_model=SimilarityReportOut,
    responses=errors(404, 409),
)
async def cancel_similarity_report(
    report_id: ReportId, user: Instructor, session: SessionDep, temporal: TemporalDep
):
    """Stop a report that is still running: it ends `cancelled`."""
    report, slug = await report_of(session, user, report_id)
    if report.status not in REPORT_ACTIVE:
        raise ApiError(409, f"Report {report_id} already ended ({report.status}).")
    report.status, report.finished_at = ReportStatus.CANCELLED, datetime.now(UTC)
    await session.commit()
    try:
        await temporal.get_workflow_handle(similarity_workflow_id(str(report.id))).cancel()
    except Exception as exc:  # noqa: BLE001 - the cancel stands: the workflow finds the report cancelled
        # Its steps check the report before each page and before storing pairs, so a workflow that was not
        # told (Temporal down, or already ended) stops at its next step and stores nothing.
        log.warning(
            "similarity report %s: its workflow was not told of the cancel: %s", report.id, exc
        )
    return await report_out(session, report, slug, pairs=0)
