"""Rosters from the LMS (Names and Role Provisioning): who the LMS says is in a course against who the cohort holds
from that LMS. A plan first (who would be added, who dropped), then applied: new people get an account and an
enrollment, dropped ones leave the cohort and keep their work. People enrolled by hand (no identity from this LMS)
are never touched."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.lti import keys, services
from gradeflow.lti.admit import person, role_of
from gradeflow.lti.protocol import CLAIM
from gradeflow.models import Cohort, Enrollment, LtiContext, LtiIdentity, LtiPlatform, User


class RosterError(Exception):
    """The roster cannot be synced; the message says why."""


@dataclass
class Member:
    sub: str
    name: str
    email: str | None
    role: str  # student or instructor, as a launch would make them


@dataclass
class RosterPlan:
    cohort: str
    add: list[Member] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)  # GradeFlow names
    unchanged: int = 0


def as_claims(member: dict[str, Any]) -> dict[str, Any]:
    """An NRPS member in the shape of a launch's claims (admit.person makes people from those)."""
    return {
        "sub": str(member["user_id"]),
        "name": member.get("name") or "",
        "email": member.get("email") or None,
        CLAIM + "roles": list(member.get("roles") or []),
        CLAIM + "lis": {"person_sourcedid": member.get("lis_person_sourcedid")},
    }


async def context_of(session: AsyncSession, cohort: Cohort) -> tuple[LtiContext, LtiPlatform]:
    found = (
        await session.execute(
            select(LtiContext, LtiPlatform)
            .join(LtiPlatform, LtiPlatform.id == LtiContext.platform_id)
            .where(LtiContext.cohort_id == cohort.id)
        )
    ).first()
    if found is None:
        raise RosterError(
            f"cohort '{cohort.slug}' did not come from an LMS: it has no roster there"
        )
    context, platform = found
    if not context.memberships_url:
        raise RosterError(
            f"the LMS of cohort '{cohort.slug}' did not offer its roster (Names and Role Provisioning) "
            "in any launch: enable that service for GradeFlow in the LMS"
        )
    return context, platform


async def fetch(
    session: AsyncSession, cohort: Cohort
) -> tuple[LtiContext, LtiPlatform, list[dict]]:
    """The course's members as the LMS lists them now."""
    context, platform = await context_of(session, cohort)
    key = await keys.signing_key(session)
    lms = services.connector(platform, keys.unlocked(key))
    try:
        found = await asyncio.to_thread(services.members, lms, str(context.memberships_url))
    except Exception as exc:  # noqa: BLE001 - whatever the LMS did, the answer is the same
        raise RosterError(
            f"{platform.name} did not give the roster: {type(exc).__name__}: {exc}"
        ) from None
    return context, platform, found


async def plan(
    session: AsyncSession, cohort: Cohort, listed: list[dict], platform_id: int
) -> RosterPlan:
    active = {
        str(m["user_id"]): m
        for m in listed
        if str(m.get("status", "Active")) == "Active" and m.get("user_id")
    }
    enrolled = dict(
        (
            await session.execute(
                select(LtiIdentity.sub, User.name)
                .join(User, User.id == LtiIdentity.user_id)
                .join(Enrollment, Enrollment.user_id == User.id)
                .where(LtiIdentity.platform_id == platform_id, Enrollment.cohort_id == cohort.id)
            )
        ).all()
    )
    result = RosterPlan(cohort.slug)
    for sub, member in active.items():
        if sub in enrolled:
            result.unchanged += 1
        else:
            result.add.append(
                Member(
                    sub,
                    str(member.get("name") or ""),
                    member.get("email"),
                    role_of(list(member.get("roles") or [])),
                )
            )
    result.drop = sorted(name for sub, name in enrolled.items() if sub not in active)
    return result


async def apply(
    session: AsyncSession, cohort: Cohort, listed: list[dict], platform: LtiPlatform
) -> RosterPlan:
    done = await plan(session, cohort, listed, platform.id)
    by_sub = {str(m["user_id"]): m for m in listed}
    for member in done.add:
        user = await person(session, platform, as_claims(by_sub[member.sub]), [])
        await session.execute(
            pg_insert(Enrollment)
            .values(user_id=user.id, cohort_id=cohort.id)
            .on_conflict_do_nothing()
        )
    if done.drop:
        leaving = select(User.id).where(User.name.in_(done.drop))
        await session.execute(
            delete(Enrollment).where(
                Enrollment.cohort_id == cohort.id, Enrollment.user_id.in_(leaving)
            )
        )
    await session.flush()
    return done


async def sync(session: AsyncSession, cohort: Cohort, apply_it: bool) -> RosterPlan:
    """What syncing the cohort with its LMS roster would change (`apply_it` False) or changed."""
    _, platform, listed = await fetch(session, cohort)
    if apply_it:
        return await apply(session, cohort, listed, platform)
    return await plan(session, cohort, listed, platform.id)
