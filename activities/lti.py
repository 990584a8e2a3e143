"""Grades to an LMS (LTI Assignment and Grade Services): the PostGrades workflow's activity sends each pending
grade (lti_grade_posts, marked by the database when a score changes) to its line item through pylti1p3, the grade
as the cohort's rule makes it when it is sent, so only the newest is ever sent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from gradeflow.gradebook import grades_of
from gradeflow.lti import keys, roster, services
from gradeflow.models import (
    Assignment,
    Cohort,
    LtiContext,
    LtiGradePost,
    LtiIdentity,
    LtiLink,
    LtiPlatform,
)

BATCH = 200


@dataclass
class PostGradesInput:
    platform_id: int


@dataclass
class PostGradesResult:
    posted: int
    more: bool  # grades still pending after this batch


class LtiActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @activity.defn
    async def post_grades(self, req: PostGradesInput) -> PostGradesResult:
        """Send a batch of the platform's pending grades, oldest mark first. The first the LMS does not take ends
        the attempt (its error kept for the operator); the ones sent before it stay sent."""
        async with self.sessions() as session:
            platform = await session.get(LtiPlatform, req.platform_id)
            if platform is None:
                return PostGradesResult(0, False)
            key = await keys.signing_key(session)
            await session.commit()
            due = (
                await session.execute(
                    select(
                        LtiGradePost,
                        LtiLink.lineitem_url,
                        LtiLink.cohort_id,
                        LtiLink.assignment_id,
                        LtiIdentity.sub,
                        Assignment.points,
                        Cohort.grade_rule,
                    )
                    .join(
                        LtiLink,
                        (LtiLink.platform_id == LtiGradePost.platform_id)
                        & (LtiLink.resource_link_id == LtiGradePost.resource_link_id),
                    )
                    .join(
                        LtiIdentity,
                        (LtiIdentity.platform_id == LtiGradePost.platform_id)
                        & (LtiIdentity.user_id == LtiGradePost.user_id),
                    )
                    .join(Assignment, Assignment.id == LtiLink.assignment_id)
                    .join(Cohort, Cohort.id == LtiLink.cohort_id)
                    .where(
                        LtiGradePost.platform_id == platform.id,
                        LtiGradePost.posted_mark.is_distinct_from(LtiGradePost.marked_at),
                    )
                    .order_by(LtiGradePost.marked_at)
                    .limit(BATCH + 1)
                )
            ).all()
            # One connector per batch: it asks the LMS for an access token once
            lms = services.connector(platform, keys.unlocked(key))
            posted = 0
            for post, lineitem, cohort_id, assignment_id, sub, points, rule in due[:BATCH]:
                mark = post.marked_at
                grade = (await grades_of(session, post.user_id, cohort_id, rule)).get(assignment_id)
                if grade is not None and lineitem:
                    try:
                        await asyncio.to_thread(
                            services.post_score, lms, lineitem, sub, grade, float(points)
                        )
                    except Exception as exc:  # noqa: BLE001 - whatever the LMS did, it is kept and retried
                        await session.execute(
                            update(LtiGradePost)
                            .where(
                                LtiGradePost.platform_id == post.platform_id,
                                LtiGradePost.resource_link_id == post.resource_link_id,
                                LtiGradePost.user_id == post.user_id,
                            )
                            .values(
                                attempts=LtiGradePost.attempts + 1,
                                last_error=f"{type(exc).__name__}: {exc}"[:1000],
                            )
                        )
                        await session.commit()
                        raise ApplicationError(
                            f"{platform.name} did not take a grade: {type(exc).__name__}: {exc}"[
                                :500
                            ]
                        ) from None
                # Sent (or nothing to send yet): done, unless a newer mark came meanwhile
                await session.execute(
                    update(LtiGradePost)
                    .where(
                        LtiGradePost.platform_id == post.platform_id,
                        LtiGradePost.resource_link_id == post.resource_link_id,
                        LtiGradePost.user_id == post.user_id,
                    )
                    .values(
                        posted_mark=mark,
                        posted_score=grade,
                        posted_at=datetime.now(UTC) if grade is not None else None,
                        attempts=0,
                        last_error=None,
                    )
                )
                await session.commit()
                posted += grade is not None
                activity.heartbeat(posted)
            return PostGradesResult(posted, len(due) > BATCH)


@dataclass
class RosterSyncResult:
    synced: int
    failed: list[str]  # "cohort: why", for the cohorts whose LMS did not give the roster


class LtiRosterActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @activity.defn
    async def sync_rosters(self) -> RosterSyncResult:
        """Sync every cohort that came from an LMS offering its roster, one transaction each."""
        async with self.sessions() as session:
            cohorts = list(
                (
                    await session.execute(
                        select(Cohort)
                        .join(LtiContext, LtiContext.cohort_id == Cohort.id)
                        .where(LtiContext.memberships_url.is_not(None))
                        .order_by(Cohort.id)
                    )
                ).scalars()
            )
        result = RosterSyncResult(0, [])
        for cohort in cohorts:
            async with self.sessions() as session, session.begin():
                try:
                    await roster.sync(session, await session.merge(cohort), apply_it=True)
                    result.synced += 1
                except roster.RosterError as exc:
                    result.failed.append(f"{cohort.slug}: {exc}")
            activity.heartbeat(result.synced)
        return result
