"""The similarity report's activities: fingerprint each student's latest submission (once per distinct code, kept
in `code_fingerprints`), then find the candidate pairs through an inverted index of fingerprints and score them.

Every step is idempotent, so a worker killed mid-report is replaced by a retry that reaches the same result:
fingerprints are inserted once per code hash, the pairs are replaced in one transaction, and a report that an
instructor cancelled meanwhile is never marked completed. The CPU work (pygments, comparisons) runs in a thread in
slices, with a heartbeat between slices, so the worker's event loop keeps serving its other activities.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from gradeflow import fingerprints as fp
from gradeflow.models import (
    Assignment,
    CodeFingerprints,
    SimilarityReport,
    SimilarPair,
    Submission,
)
from gradeflow.vocabulary import FINAL_STATUSES, REPORT_ACTIVE, ReportStatus

# Kept per report: the most similar pairs, and none below this similarity (noise every pair of solutions has).
MAX_PAIRS = 500
MIN_SIMILARITY = 0.1
# Codes fingerprinted per slice of CPU work (about 5 ms each), between heartbeats.
SLICE = 50


def scheme(language: str) -> str:
    return f"{language}-k{fp.K}-w{fp.W}"


@dataclass
class ReportRef:
    report_id: str


@dataclass
class FingerprintPage:
    report_id: str
    after_user: int
    limit: int
    done_before: int


@dataclass
class PageDone:
    next_after: int | None  # None: that was the last page
    done: int


@dataclass
class ReportEnd:
    report_id: str
    status: str
    error: str | None = None


def in_report(report: SimilarityReport):
    """Each student's latest finished submission of the assignment, made in the cohort, up to the cutoff."""
    return (
        select(Submission.id, Submission.user_id, Submission.code_hash)
        .where(
            Submission.cohort_id == report.cohort_id,
            Submission.assignment_id == report.assignment_id,
            Submission.status.in_(FINAL_STATUSES),
            Submission.created_at <= report.cutoff,
        )
        .distinct(Submission.user_id)
        .order_by(Submission.user_id, Submission.created_at.desc())
    )


class SimilarityActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def _report(self, session: AsyncSession, report_id: uuid.UUID) -> SimilarityReport:
        report = await session.get(SimilarityReport, report_id)
        if report is None:
            raise ValueError(f"no similarity report {report_id}")
        return report

    @activity.defn
    async def start_similarity(self, ref: ReportRef) -> int:
        async with self.sessions() as session, session.begin():
            report = await session.get(
                SimilarityReport, uuid.UUID(ref.report_id), with_for_update=True
            )
            if report is None:
                raise ValueError(f"no similarity report {ref.report_id}")
            scope = in_report(report).subquery()
            report.total = await session.scalar(select(func.count()).select_from(scope)) or 0
            if report.status == ReportStatus.QUEUED:
                report.status = ReportStatus.RUNNING
            report.started_at = report.started_at or datetime.now(UTC)
            return report.total

    @activity.defn
    async def fingerprint_page(self, page: FingerprintPage) -> PageDone:
        """Fingerprint the codes of one page of students (by user id) that have none yet."""
        report_id = uuid.UUID(page.report_id)
        async with self.sessions() as session:
            report = await self._report(session, report_id)
            if report.status != ReportStatus.RUNNING:  # cancelled meanwhile: stop here
                return PageDone(next_after=None, done=page.done_before)
            assignment = await session.get(Assignment, report.assignment_id)
            assert assignment is not None  # the report's foreign key
            language = assignment.language
            scope = in_report(report).subquery()
            rows = (
                await session.execute(
                    select(scope.c.user_id, scope.c.code_hash)
                    .where(scope.c.user_id > page.after_user)
                    .order_by(scope.c.user_id)
                    .limit(page.limit)
                )
            ).all()
            hashes = {r.code_hash for r in rows}
            known = set(
                (
                    await session.execute(
                        select(CodeFingerprints.code_hash).where(
                            CodeFingerprints.code_hash.in_(hashes),
                            CodeFingerprints.scheme == scheme(language),
                        )
                    )
                ).scalars()
            )
            missing = sorted(hashes - known)
            codes = dict(
                (
                    await session.execute(
                        select(Submission.code_hash, Submission.code)
                        # (assignment, code hash): the result cache's index
                        .where(
                            Submission.assignment_id == report.assignment_id,
                            Submission.code_hash.in_(missing),
                        )
                        .distinct(Submission.code_hash)
                    )
                ).all()
            )
        computed: list[dict[str, Any]] = []
        for start in range(0, len(missing), SLICE):
            part = [(h, codes[h]) for h in missing[start : start + SLICE]]
            computed += await asyncio.to_thread(fingerprint_all, part, language)
            activity.heartbeat(start)
        async with self.sessions() as session, session.begin():
            if computed:
                await session.execute(
                    pg_insert(CodeFingerprints)
                    .values(computed)
                    .on_conflict_do_nothing(index_elements=["code_hash", "scheme"])
                )
            done = page.done_before + len(rows)
            await session.execute(
                update(SimilarityReport)
                .where(SimilarityReport.id == report_id)
                .values(fingerprinted=done)
            )
        last = rows[-1].user_id if len(rows) == page.limit else None
        return PageDone(next_after=last, done=done)

    @activity.defn
    async def score_pairs(self, ref: ReportRef) -> int:
        """Candidate pairs through shared fingerprints (starter code and what most write left out), scored and
        ranked; the report's pairs replaced at once. Returns how many pairs were scored."""
        report_id = uuid.UUID(ref.report_id)
        async with self.sessions() as session:
            report = await self._report(session, report_id)
            assignment = await session.get(Assignment, report.assignment_id)
            assert assignment is not None
            scope = in_report(report).subquery()
            rows = (
                await session.execute(
                    select(
                        scope.c.id,
                        CodeFingerprints.hashes,
                        CodeFingerprints.starts,
                        CodeFingerprints.ends,
                        CodeFingerprints.tokens,
                    ).join(
                        CodeFingerprints,
                        (CodeFingerprints.code_hash == scope.c.code_hash)
                        & (CodeFingerprints.scheme == scheme(assignment.language)),
                    )
                )
            ).all()
        codes = {
            str(r.id): fp.Fingerprints(list(r.hashes), list(r.starts), list(r.ends), r.tokens)
            for r in rows
        }
        heartbeat = asyncio.create_task(keep_beating())
        try:
            scored, pairs = await asyncio.to_thread(
                rank_pairs, codes, assignment.starter_code, assignment.language
            )
        finally:
            heartbeat.cancel()
        async with self.sessions() as session, session.begin():
            still = await session.scalar(
                select(SimilarityReport.status)
                .where(SimilarityReport.id == report_id)
                .with_for_update()
            )
            if still != ReportStatus.RUNNING:
                return scored  # cancelled meanwhile: leave it as the instructor left it
            await session.execute(delete(SimilarPair).where(SimilarPair.report_id == report_id))
            if pairs:
                await session.execute(
                    pg_insert(SimilarPair).values([{"report_id": report_id, **p} for p in pairs])
                )
            await session.execute(
                update(SimilarityReport)
                .where(SimilarityReport.id == report_id)
                .values(
                    status=ReportStatus.COMPLETED,
                    candidates=scored,
                    finished_at=datetime.now(UTC),
                )
            )
        return scored

    @activity.defn
    async def finish_similarity(self, end: ReportEnd) -> None:
        """A report that did not complete: cancelled or failed (unless it already ended)."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(SimilarityReport)
                .where(
                    SimilarityReport.id == uuid.UUID(end.report_id),
                    SimilarityReport.status.in_(REPORT_ACTIVE),
                )
                .values(status=end.status, error=end.error, finished_at=datetime.now(UTC))
            )


async def keep_beating() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(2)


def fingerprint_all(codes: list[tuple[str, str]], language: str) -> list[dict[str, Any]]:
    out = []
    for code_hash, code in codes:
        f = fp.fingerprint(code, language)
        out.append(
            {
                "code_hash": code_hash,
                "scheme": scheme(language),
                "tokens": f.tokens,
                "hashes": f.hashes,
                "starts": f.starts,
                "ends": f.ends,
            }
        )
    return out


def rank_pairs(
    codes: dict[str, fp.Fingerprints], starter: str, language: str
) -> tuple[int, list[dict[str, Any]]]:
    """(pairs scored, the kept pairs ranked) for submissions by id. The index yields each candidate pair with how
    many fingerprints it shares, which is its similarity already; only the kept pairs are compared in full for
    their fragments."""
    ignore = fp.fingerprint(starter, language).as_set() if starter.strip() else set()
    ignore |= fp.common_fingerprints((f.as_set() for f in codes.values()), len(codes))
    sets = {key: f.as_set() - ignore for key, f in codes.items()}
    candidates = fp.candidate_pairs(sets)
    likely = sorted(
        (
            (2 * shared / (len(sets[a]) + len(sets[b])), a, b)
            for (a, b), shared in candidates.items()
        ),
        reverse=True,
    )
    kept: list[tuple[str, str, fp.Comparison]] = []
    for similarity, a, b in likely:
        if similarity < MIN_SIMILARITY or len(kept) >= MAX_PAIRS:
            break
        kept.append((a, b, fp.compare(codes[a], codes[b], ignore)))
    kept.sort(key=lambda t: (-t[2].similarity, -t[2].longest_lines, t[0], t[1]))
    pairs = [
        {
            "rank": rank,
            "a_submission": uuid.UUID(a),
            "b_submission": uuid.UUID(b),
            "similarity": round(c.similarity, 4),
            "share_a": round(c.share_a, 4),
            "share_b": round(c.share_b, 4),
            "longest_lines": c.longest_lines,
            "fragments": [
                {"a": list(f.a_lines), "b": list(f.b_lines), "fingerprints": f.fingerprints}
                for f in c.fragments
            ],
        }
        for rank, (a, b, c) in enumerate(kept, start=1)
    ]
    return len(candidates), pairs
