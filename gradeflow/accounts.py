"""Users and cohorts: creating them and issuing tokens."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.models import Cohort, Enrollment, User
from gradeflow.tokens import hash_token, new_token
from gradeflow.vocabulary import Role


class AccountError(ValueError):
    pass


async def add_cohort(session: AsyncSession, slug: str, title: str = "") -> Cohort:
    if (await session.execute(select(Cohort).where(Cohort.slug == slug))).scalar_one_or_none():
        raise AccountError(f"cohort '{slug}' already exists")
    cohort = Cohort(slug=slug, title=title or slug)
    session.add(cohort)
    await session.flush()
    return cohort


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
