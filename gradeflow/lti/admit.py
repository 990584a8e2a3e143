"""A checked launch, as GradeFlow data: the LMS person becomes a user (by platform and `sub`), the LMS course a
cohort, the link an offering; all made on first launch, found on every later one."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts import add_cohort
from gradeflow.lti.protocol import AGS_ENDPOINT, ASSIGNMENT_PARAM, CLAIM, NRPS
from gradeflow.models import (
    Assignment,
    Cohort,
    Enrollment,
    LtiContext,
    LtiIdentity,
    LtiLink,
    LtiPlatform,
    Offering,
    SignInSession,
    User,
)
from gradeflow.tokens import hash_token, new_token
from gradeflow.vocabulary import Role

# LTI roles (membership or institution vocabularies) that make someone staff of the course
STAFF_ROLES = (
    "#Instructor",
    "#TeachingAssistant",
    "#ContentDeveloper",
    "#Administrator",
    "#Mentor",
)


def role_of(roles: list[str]) -> str:
    """Instructor for the LMS's teaching roles, student otherwise (learners, and anyone the LMS does not say)."""
    return Role.INSTRUCTOR if any(r.endswith(STAFF_ROLES) for r in roles) else Role.STUDENT


def user_name(platform: LtiPlatform, claims: dict[str, Any]) -> str:
    """A login name for a new LMS person: their email's local part or their name, made unique by the LMS id."""
    base = (
        str(claims.get("email") or "").split("@")[0] or str(claims.get("name") or "") or "lms-user"
    )
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")[:60] or "lms-user"
    suffix = hashlib.sha256(f"{platform.id}:{claims['sub']}".encode()).hexdigest()[:8]
    return f"{base}-{suffix}"


def cohort_slug(platform: LtiPlatform, context: dict[str, Any]) -> str:
    label = str(context.get("label") or context.get("title") or "lms-course")
    base = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:60] or "lms-course"
    suffix = hashlib.sha256(f"{platform.id}:{context['id']}".encode()).hexdigest()[:6]
    return f"{base}-{suffix}"


@dataclass
class Admitted:
    user: User
    cohort: Cohort | None
    assignment: Assignment | None
    created: list[str]  # what this launch made: "user", "cohort", "link"


async def find_platform(session: AsyncSession, issuer: str, client_id: str) -> LtiPlatform:
    return (
        await session.execute(
            select(LtiPlatform).where(
                LtiPlatform.issuer == issuer, LtiPlatform.client_id == client_id
            )
        )
    ).scalar_one()


async def person(
    session: AsyncSession, platform: LtiPlatform, claims: dict[str, Any], created: list[str]
) -> User:
    found = (
        await session.execute(
            select(User)
            .join(LtiIdentity, LtiIdentity.user_id == User.id)
            .where(LtiIdentity.platform_id == platform.id, LtiIdentity.sub == claims["sub"])
        )
    ).scalar_one_or_none()
    role = role_of(list(claims.get(CLAIM + "roles") or []))
    if found is not None:
        return found  # their role is settled against the course in admit()
    email = claims.get("email") or None
    sis_id = (claims.get(CLAIM + "lis") or {}).get("person_sourcedid") or None
    # Kept when no one else has them (they are unique: a roster may have given them to a person already)
    taken = (
        await session.execute(
            select(User.email, User.sis_id).where((User.email == email) | (User.sis_id == sis_id))
        )
    ).all()
    user = User(
        name=user_name(platform, claims),
        role=role,
        token_hash=hash_token(
            new_token()
        ),  # an API token nobody was given: they sign in through the LMS
        email=None if any(t.email == email for t in taken) else email,
        sis_id=None if any(t.sis_id == sis_id for t in taken) else sis_id,
    )
    session.add(user)
    await session.flush()
    session.add(LtiIdentity(platform_id=platform.id, sub=claims["sub"], user_id=user.id))
    created.append("user")
    return user


async def course(
    session: AsyncSession,
    platform: LtiPlatform,
    claims: dict[str, Any],
    deployment_id: str,
    created: list[str],
) -> Cohort | None:
    context = claims.get(CLAIM + "context") or {}
    if not context.get("id"):
        return None
    found = await session.get(LtiContext, (platform.id, str(context["id"])))
    memberships = (claims.get(NRPS) or {}).get("context_memberships_url")
    lineitems = (claims.get(AGS_ENDPOINT) or {}).get("lineitems")
    if found is None:
        cohort = await add_cohort(
            session, cohort_slug(platform, context), str(context.get("title") or "")
        )
        found = LtiContext(
            platform_id=platform.id,
            context_id=str(context["id"]),
            cohort_id=cohort.id,
            deployment_id=deployment_id,
            title=str(context.get("title") or ""),
        )
        session.add(found)
        created.append("cohort")
    found.memberships_url = memberships or found.memberships_url
    found.lineitems_url = lineitems or found.lineitems_url
    await session.flush()
    return await session.get(Cohort, found.cohort_id)


async def link(
    session: AsyncSession,
    platform: LtiPlatform,
    claims: dict[str, Any],
    cohort: Cohort | None,
    created: list[str],
) -> Assignment | None:
    """The assignment a resource link opens: bound on its first launch from the deep link's custom parameter."""
    resource = claims.get(CLAIM + "resource_link") or {}
    if cohort is None or not resource.get("id"):
        return None
    lineitem = (claims.get(AGS_ENDPOINT) or {}).get("lineitem")
    bound = await session.get(LtiLink, (platform.id, str(resource["id"])))
    if bound is None:
        wanted = str((claims.get(CLAIM + "custom") or {}).get(ASSIGNMENT_PARAM) or "")
        offered = (
            await session.execute(
                select(Offering.assignment_id).where(
                    Offering.cohort_id == cohort.id,
                    Offering.assignment_id == (int(wanted) if wanted.isdigit() else -1),
                )
            )
        ).scalar_one_or_none()
        if offered is None:
            return None  # a link GradeFlow did not make: the person lands on their dashboard
        bound = LtiLink(
            platform_id=platform.id,
            resource_link_id=str(resource["id"]),
            cohort_id=cohort.id,
            assignment_id=offered,
        )
        session.add(bound)
        created.append("link")
    if bound.cohort_id != cohort.id:
        return None  # a link copied into another course: bound to its own
    bound.lineitem_url = lineitem or bound.lineitem_url
    await session.flush()
    return await session.get(Assignment, bound.assignment_id)


class RoleConflict(Exception):
    """The LMS gives someone a role in this course that GradeFlow cannot give them without changing what they
    are in their other cohorts; the message says so."""


def _as(role: str) -> str:
    return "an instructor" if role == Role.INSTRUCTOR else "a student"


async def settle_role(session: AsyncSession, user: User, role: str, cohort: Cohort | None) -> None:
    """A GradeFlow role is one for all of a person's cohorts. When the LMS gives them another in this course
    (a student who became a TA, staff taking a course), it changes only if this is their one cohort: otherwise a
    student would become staff of the cohorts they study in (and read classmates' code), or staff a student."""
    if user.role == role or user.role == Role.OPERATOR:
        return
    elsewhere = await session.scalar(
        select(
            exists().where(
                Enrollment.user_id == user.id,
                Enrollment.cohort_id != (cohort.id if cohort is not None else -1),
            )
        )
    )
    if elsewhere:
        raise RoleConflict(
            f"The LMS makes you {_as(role)} in this course, but on GradeFlow you are {_as(user.role)} "
            "in other courses, and one account has one role. Ask the GradeFlow operator for a second account."
        )
    user.role = role


async def admit(
    session: AsyncSession, platform: LtiPlatform, claims: dict[str, Any], deployment_id: str
) -> Admitted:
    """Raises RoleConflict (nothing is made; the caller rolls back)."""
    created: list[str] = []
    user = await person(session, platform, claims, created)
    cohort = await course(session, platform, claims, deployment_id, created)
    await settle_role(session, user, role_of(list(claims.get(CLAIM + "roles") or [])), cohort)
    if cohort is not None:
        await session.execute(
            pg_insert(Enrollment)
            .values(user_id=user.id, cohort_id=cohort.id)
            .on_conflict_do_nothing()
        )
        # They came in through this course: their work counts for it
        await session.execute(
            update(User).where(User.id == user.id).values(current_cohort_id=cohort.id)
        )
    assignment = await link(session, platform, claims, cohort, created)
    return Admitted(user, cohort, assignment, created)


async def sign_in(session: AsyncSession, user: User, hours: float) -> str:
    """A token for one browser's sign-in, ending after `hours`; the user's API token is untouched."""
    token = new_token()
    # Their sign-ins that have ended go (they let no one in; this keeps the table small)
    await session.execute(
        delete(SignInSession).where(
            SignInSession.user_id == user.id, SignInSession.expires_at < datetime.now(UTC)
        )
    )
    session.add(
        SignInSession(
            token_hash=hash_token(token),
            user_id=user.id,
            source="lti",
            expires_at=datetime.now(UTC) + timedelta(hours=hours),
        )
    )
    await session.flush()
    return token
