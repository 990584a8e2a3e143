"""Which assignments a cohort offers and on what terms, as the routes ask it: what a student may see, the rules of
their next submission, and who may change an assignment. The rules themselves are gradeflow.policy's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.deps import Principal
from api.errors import ApiError
from api.schemas import LateWindow, TermsOut
from gradeflow.db import Prepared
from gradeflow.models import Assignment, Offering
from gradeflow.policy import Rules, decide
from gradeflow.vocabulary import Role, Verdict

# One round trip: the offering, the student's extension, the assignment's title, and their submissions so far.
SUBMISSION_RULES = text("""
SELECT o.release_at, o.due_at, o.close_at, o.late_windows, o.max_submissions, o.min_minutes_between,
       o.policy_version, e.user_id IS NOT NULL AS extended, e.due_at AS ext_due_at,
       e.close_at AS ext_close_at, a.title, mine.used, mine.last_at, now() AS now
FROM offerings o JOIN assignments a ON a.id = o.assignment_id
LEFT JOIN extensions e
       ON e.cohort_id = o.cohort_id AND e.assignment_id = o.assignment_id AND e.user_id = :user_id
CROSS JOIN LATERAL (
    SELECT count(*) AS used, max(s.created_at) AS last_at FROM submissions s
    WHERE s.user_id = :user_id AND s.assignment_id = o.assignment_id AND s.cohort_id = o.cohort_id
      -- code the compiler refused costs no attempt (and starts no wait before the next one)
      AND s.verdict IS DISTINCT FROM :compile_error
) mine
WHERE o.cohort_id = :cohort_id AND o.assignment_id = :assignment_id
""").bindparams(compile_error=Verdict.COMPILE_ERROR)
SUBMISSION_RULES_NOW = Prepared(SUBMISSION_RULES)


class _Dates:
    def __init__(self, due_at: datetime | None, close_at: datetime | None) -> None:
        self.due_at, self.close_at = due_at, close_at


async def submission_rules(
    conn: AsyncConnection | AsyncSession | Any, user: Principal, assignment_id: int
) -> tuple[Rules, Any] | None:
    """The rules a student's submission to `assignment_id` falls under, with the row they came from (title, used,
    last_at, now: the database's clock); None when their cohort does not offer it. `conn`: SQLAlchemy's, or
    asyncpg's own."""
    if user.cohort_id is None:
        return None
    params = {"user_id": user.id, "cohort_id": user.cohort_id, "assignment_id": assignment_id}
    row: Any
    if isinstance(conn, (AsyncConnection, AsyncSession)):
        row = (await conn.execute(SUBMISSION_RULES, params)).first()
    else:  # asyncpg's own (gradeflow.db.driver_connection): the accepting path
        row = await SUBMISSION_RULES_NOW.first(conn, params)
    if row is None:
        return None
    extension = _Dates(row.ext_due_at, row.ext_close_at) if row.extended else None
    return Rules.of(row, extension), row


def is_student(user: Principal) -> bool:
    return user.role == Role.STUDENT


async def offered_to(session: AsyncSession, user: Principal, now: datetime) -> list[Assignment]:
    """The assignments a student's cohort offers and has released, in course order."""
    if user.cohort_id is None:
        return []
    return list(
        (
            await session.execute(
                select(Assignment)
                .join(Offering, Offering.assignment_id == Assignment.id)
                .where(
                    Offering.cohort_id == user.cohort_id,
                    or_(Offering.release_at.is_(None), Offering.release_at <= now),
                )
                .order_by(Assignment.position, Assignment.id)
            )
        ).scalars()
    )


async def next_release(session: AsyncSession, cohort_id: int, now: datetime) -> datetime | None:
    return await session.scalar(
        select(Offering.release_at)
        .where(Offering.cohort_id == cohort_id, Offering.release_at > now)
        .order_by(Offering.release_at)
        .limit(1)
    )


# Who may change an assignment's content (its tests, handout, limits …): a change to shared tests changes every
# cohort's grades, so only staff who teach *every* cohort it is offered to, or its author while it is offered to
# none. Operators may change any. Everyone else copies it (POST /assignments/{id}/copy).
EDITABLE = text("""
SELECT a.id FROM assignments a
WHERE NOT EXISTS (
        SELECT 1 FROM offerings o
        WHERE o.assignment_id = a.id AND NOT EXISTS (
            SELECT 1 FROM enrollments e WHERE e.cohort_id = o.cohort_id AND e.user_id = :user_id))
  AND (a.created_by = :user_id OR EXISTS (SELECT 1 FROM offerings o WHERE o.assignment_id = a.id))
""")
OFFERED = text("""
SELECT count(*) AS cohorts, count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM enrollments e WHERE e.cohort_id = o.cohort_id AND e.user_id = :user_id)) AS others
FROM offerings o WHERE o.assignment_id = :assignment_id
""")


async def editable(session: AsyncSession, user: Principal) -> set[int] | None:
    """The ids of the assignments `user` may change; None: all of them (an operator)."""
    if user.role == Role.OPERATOR:
        return None
    return set((await session.execute(EDITABLE, {"user_id": user.id})).scalars())


async def refuse_unless_editor(
    session: AsyncSession, user: Principal, assignment: Assignment
) -> None:
    """403, saying why and what to do instead, unless `user` may change the assignment's content."""
    if user.role == Role.OPERATOR:
        return
    offered = (
        await session.execute(OFFERED, {"assignment_id": assignment.id, "user_id": user.id})
    ).one()
    others = offered.others
    if not others and (offered.cohorts or assignment.created_by == user.id):
        return
    why = (
        f"it is also offered to {others} cohort{'s' if others != 1 else ''} you do not teach, whose "
        "students it grades"
        if others
        else "it is offered to no cohort and someone else wrote it"
    )
    raise ApiError(
        403,
        f"You may not change assignment {assignment.id} ('{assignment.title}'): {why}. Copy it instead "
        f"(POST /api/v1/assignments/{assignment.id}/copy, or Copy on the dashboard's Assignments page): the "
        "copy takes its place in your cohort and is yours to edit.",
    )


def terms_out(rules: Rules, row: Any) -> TermsOut:
    verdict = decide(rules, row.now, row.used, row.last_at, row.title)
    return TermsOut(
        release_at=rules.release_at,
        due_at=rules.due_at,
        closes_at=rules.closes_at(),
        late_windows=[LateWindow(hours=h, credit=c) for h, c in rules.late_windows],
        extended=bool(row.extended),
        submissions_used=row.used,
        submissions_left=(
            None if rules.max_submissions is None else max(0, rules.max_submissions - row.used)
        ),
        min_minutes_between=rules.min_minutes_between,
        open_now=verdict.allowed,
        credit_now=verdict.credit if verdict.allowed else 0.0,
        window_now=verdict.window if verdict.allowed else "",
        message_now="" if verdict.allowed else verdict.message,
    )
