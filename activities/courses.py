"""The score ledger's activity: recount the credit of a cohort's graded submissions of one assignment (or one
student's) under the terms that apply now, from when each was received; run no code. Each change is recorded in
`credit_changes` with its reason, and the submission's score follows its new credit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from gradeflow import redis_keys
from gradeflow.models import CreditChange, Extension, Offering, Recompute, Submission
from gradeflow.policy import Rules, credit_at, score_of
from gradeflow.redis_keys import best_effort
from gradeflow.vocabulary import RecountStatus, SubmissionStatus


@dataclass
class RecomputeRequest:
    recompute_id: str


@dataclass
class RecomputeResult:
    checked: int
    changed: int


class CourseActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: Redis) -> None:
        self.sessions = sessions
        self.redis = redis

    @activity.defn
    async def recompute_credit(self, req: RecomputeRequest) -> RecomputeResult:
        """Idempotent: a retried run finds the credits already recounted and changes nothing more."""
        changed_ids: list[str] = []
        async with self.sessions() as session, session.begin():
            job = await session.get(Recompute, uuid.UUID(req.recompute_id))
            if job is None:
                raise ValueError(f"no recompute {req.recompute_id}")
            offering = await session.get(Offering, (job.cohort_id, job.assignment_id))
            extensions = {
                e.user_id: e
                for e in (
                    await session.execute(
                        select(Extension).where(
                            Extension.cohort_id == job.cohort_id,
                            Extension.assignment_id == job.assignment_id,
                        )
                    )
                ).scalars()
            }
            query = select(Submission).where(
                Submission.cohort_id == job.cohort_id,
                Submission.assignment_id == job.assignment_id,
                Submission.status == SubmissionStatus.GRADED,
            )
            if job.user_id is not None:
                query = query.where(Submission.user_id == job.user_id)
            subs = list((await session.execute(query.with_for_update())).scalars())
            for sub in subs if offering is not None else []:
                rules = Rules.of(offering, extensions.get(sub.user_id))
                verdict = credit_at(rules, sub.created_at)
                if verdict.credit == sub.credit and verdict.late == sub.late:
                    continue
                new_score = (
                    score_of(sub.tests or [], sub.max_score, verdict.credit)
                    if sub.score is not None
                    else None
                )
                session.add(
                    CreditChange(
                        recompute_id=job.id,
                        submission_id=sub.id,
                        old_credit=sub.credit,
                        new_credit=verdict.credit,
                        old_score=sub.score,
                        new_score=new_score,
                        why=f"{job.reason}: now {verdict.window}",
                    )
                )
                sub.credit, sub.late, sub.score = verdict.credit, verdict.late, new_score
                sub.derivation = {**verdict.derivation(sub.created_at, rules), "recomputed": True}
                changed_ids.append(str(sub.id))
            await session.execute(
                update(Recompute)
                .where(Recompute.id == job.id)
                .values(
                    status=RecountStatus.COMPLETED,
                    finished_at=datetime.now(UTC),
                    checked=len(subs),
                    changed=len(changed_ids),
                )
            )
        # Their cached statuses carry the old score: PostgreSQL answers from now on (a cache, nothing lost).
        if changed_ids:
            await best_effort(
                self.redis.delete(*(redis_keys.submission_status(i) for i in changed_ids)),
                "the recomputed statuses",
            )
        activity.logger.info(
            "recompute %s: %d submissions checked, %d credits changed",
            req.recompute_id,
            len(subs),
            len(changed_ids),
        )
        return RecomputeResult(len(subs), len(changed_ids))
