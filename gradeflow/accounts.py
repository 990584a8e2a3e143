"""Users and cohorts: creating them and issuing tokens."""

from __future__ import annotations

from sqlalchemy import select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.models import Assignment, Cohort, Enrollment, Offering, User
from gradeflow.tokens import hash_token, new_token
from gradeflow.vocabulary import Role


class AccountError(ValueError):
    pass


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
    """Offer assignments (default: all) to cohorts (default: all), with no dates; offerings that exist stay."""
    await session.execute(
        pg_insert(Offering)
        .from_select(
            ["cohort_id", "assignment_id"],
            select(Cohort.id, Assignment.id)
            .join_from(
                Cohort, Assignment, true()
            )  # every cohort with every assignment, as filtered
            .where(
                Cohort.id.in_(cohorts) if cohorts is not None else true(),
                Assignment.id.in_(assignments) if assignments is not None else true(),
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
    if (await session.execute(select(User).where(User.name == name))).scalar_one_or_none():
        raise AccountError(f"user '{name}' already exists")
    token = new_token()
    user = User(name=name, role=role, token_hash=hash_token(token))
    session.add(user)
    await session.flush()
    if cohort_slug:
        cohort = (
            await session.execute(select(Cohort).where(Cohort.slug == cohort_slug))
        ).scalar_one_or_none()
        if cohort is None:
            raise AccountError(
                f"cohort '{cohort_slug}' does not exist; create it with `gradeflow cohorts add`"
            )
        session.add(Enrollment(user_id=user.id, cohort_id=cohort.id))
        await session.flush()
    return user, token
