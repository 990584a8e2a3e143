"""Users and cohorts: creating them, issuing tokens, who is in which cohort."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.models import Assignment, Cohort, Enrollment, Offering, User
from gradeflow.tokens import hash_token, new_token
from gradeflow.vocabulary import Role


class AccountError(ValueError):
    pass


class NoSuchAccount(AccountError):
    """The person or cohort named does not exist."""


# One rule for every way an account is made (`gradeflow users add`, rosters through the CLI or the API).
NAME = re.compile(r"[A-Za-z0-9._@-]{1,100}")
NAME_RULE = "1-100 letters, digits, '.', '_', '-' or '@' (no spaces)"


def a_role(role: str) -> str:
    """'a student', 'an instructor', 'an operator'."""
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a login name, or None."""
    return None if NAME.fullmatch(name) else f"the name {name!r} must be {NAME_RULE}"


async def find_user(session: AsyncSession, who: str) -> User:
    """A user by name, email or SIS id."""
    user = (
        await session.execute(
            select(User).where(
                or_(User.name == who, func.lower(User.email) == who.lower(), User.sis_id == who)
            )
        )
    ).scalar_one_or_none()
    if user is None:
        raise NoSuchAccount(f"no user named '{who}' (nor with that email or SIS id)")
    return user


async def find_cohort(session: AsyncSession, slug: str) -> Cohort:
    cohort = (await session.execute(select(Cohort).where(Cohort.slug == slug))).scalar_one_or_none()
    if cohort is None:
        raise AccountError(
            f"cohort '{slug}' does not exist; create it with `gradeflow cohorts add`"
        )
    return cohort


async def enroll(
    session: AsyncSession, cohort: Cohort, who: str, role: str | None = None
) -> tuple[User, bool]:
    """Put an existing person (by name, email or SIS id) in `cohort`; `role`, when given, must be theirs.
    Returns them and whether they were not in it before."""
    user = await find_user(session, who)
    if role is not None and user.role != role:
        raise AccountError(
            f"{user.name} is {a_role(user.role)}, not {a_role(role)}; a person has one role on GradeFlow"
        )
    added = (
        await session.execute(
            pg_insert(Enrollment)
            .values(user_id=user.id, cohort_id=cohort.id)
            .on_conflict_do_nothing()
            .returning(Enrollment.user_id)
        )
    ).first()
    return user, added is not None


async def unenroll(session: AsyncSession, cohort: Cohort, who: str) -> User:
    """Take a person out of `cohort`. Their submissions and grades stay (the gradebook lists members only)."""
    user = await find_user(session, who)
    gone = (
        await session.execute(
            delete(Enrollment)
            .where(Enrollment.user_id == user.id, Enrollment.cohort_id == cohort.id)
            .returning(Enrollment.user_id)
        )
    ).first()
    if gone is None:
        raise AccountError(f"{user.name} is not in cohort '{cohort.slug}'")
    await session.execute(
        update(User)
        .where(User.id == user.id, User.current_cohort_id == cohort.id)
        .values(current_cohort_id=None)
    )
    return user


async def add_cohort(
    session: AsyncSession, slug: str, title: str = "", offer_course: bool = True
) -> Cohort:
    """A new cohort, offered every assignment of the course with no dates (its instructors then set them), or
    nothing (`offer_course=False`: its instructors offer assignments one by one)."""
    if (await session.execute(select(Cohort).where(Cohort.slug == slug))).scalar_one_or_none():
        raise AccountError(f"cohort '{slug}' already exists")
    cohort = Cohort(slug=slug, title=title or slug)
    session.add(cohort)
    await session.flush()
    if offer_course:
        await offer(session, cohorts=[cohort.id])
    return cohort


async def offer(
    session: AsyncSession, cohorts: list[int] | None = None, assignments: list[int] | None = None
) -> None:
    """Offer assignments (default: the course, every assignment but the copies staff made for their own cohorts)
    to cohorts (default: all), with no dates; offerings that exist stay."""
    # Every cohort with every assignment, as filtered
    await session.execute(
        pg_insert(Offering)
        .from_select(
            ["cohort_id", "assignment_id"],
            select(Cohort.id, Assignment.id)
            .join_from(Cohort, Assignment, true())
            .where(
                Cohort.id.in_(cohorts) if cohorts is not None else true(),
                Assignment.id.in_(assignments)
                if assignments is not None
                else Assignment.copied_from.is_(None),
            ),
        )
        .on_conflict_do_nothing()
    )


async def add_user(
    session: AsyncSession, name: str, role: str, cohort_slug: str | None = None
) -> tuple[User, str]:
    """Create a user; returns the user and their API token, which is shown only now (it is stored hashed)."""
    if role not in tuple(Role):
        raise AccountError(f"role must be one of {', '.join(Role)}, not '{role}'")
    problem = name_problem(name)
    if problem:
        raise AccountError(problem)
    if (await session.execute(select(User).where(User.name == name))).scalar_one_or_none():
        raise AccountError(f"user '{name}' already exists")
    token = new_token()
    user = User(name=name, role=role, token_hash=hash_token(token))
    session.add(user)
    await session.flush()
    if cohort_slug:
        cohort = await find_cohort(session, cohort_slug)
        session.add(Enrollment(user_id=user.id, cohort_id=cohort.id))
        await session.flush()
    return user, token
