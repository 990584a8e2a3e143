"""Registering an LMS (an LTI 1.3 platform) and the URLs it needs from GradeFlow; used by `gradeflow lti` and the
operators' API."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.models import LtiPlatform

# Where GradeFlow's LTI endpoints live, under the API's public URL
LOGIN_PATH = "/lti/login"
LAUNCH_PATH = "/lti/launch"
JWKS_PATH = "/lti/jwks"
DEEP_LINKING_PATH = "/lti/deep-linking"


class PlatformError(ValueError):
    """A registration GradeFlow refuses; the message says what to fix."""


@dataclass(frozen=True)
class NewPlatform:
    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: tuple[str, ...]


def tool_urls(public_api_url: str) -> dict[str, str]:
    """The absolute URLs an LMS is given when GradeFlow is registered in it."""
    base = public_api_url.rstrip("/")
    return {
        "login": base + LOGIN_PATH,
        "launch": base + LAUNCH_PATH,
        "jwks": base + JWKS_PATH,
        "deep_linking": base + DEEP_LINKING_PATH,
    }


def _url_problem(field: str, value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{field} must be an absolute http(s) URL, not {value!r}"
    return None


def check(new: NewPlatform) -> None:
    problems = [
        p
        for p in (
            _url_problem("auth_login_url", new.auth_login_url),
            _url_problem("auth_token_url", new.auth_token_url),
            _url_problem("key_set_url", new.key_set_url),
        )
        if p
    ]
    if not new.name.strip():
        problems.append("name must not be empty")
    if not new.issuer.strip():
        problems.append(
            "issuer must not be empty (the LMS's URL, e.g. https://canvas.instructure.com)"
        )
    if not new.client_id.strip():
        problems.append(
            "client_id must not be empty (the LMS shows it once GradeFlow is registered there)"
        )
    if not new.deployment_ids or not all(d.strip() for d in new.deployment_ids):
        problems.append(
            "give at least one deployment id (the LMS shows it for each place GradeFlow is installed)"
        )
    if problems:
        raise PlatformError("; ".join(problems))


async def add_platform(session: AsyncSession, new: NewPlatform) -> LtiPlatform:
    check(new)
    clash = (
        await session.execute(
            select(LtiPlatform).where(
                (LtiPlatform.name == new.name)
                | ((LtiPlatform.issuer == new.issuer) & (LtiPlatform.client_id == new.client_id))
            )
        )
    ).scalar_one_or_none()
    if clash is not None:
        raise PlatformError(
            f"platform '{clash.name}' already has that name or that issuer and client id"
        )
    platform = LtiPlatform(
        name=new.name.strip(),
        issuer=new.issuer.strip(),
        client_id=new.client_id.strip(),
        auth_login_url=new.auth_login_url,
        auth_token_url=new.auth_token_url,
        key_set_url=new.key_set_url,
        deployment_ids=sorted({d.strip() for d in new.deployment_ids}),
    )
    session.add(platform)
    await session.flush()
    return platform


async def all_platforms(session: AsyncSession) -> list[LtiPlatform]:
    return list((await session.execute(select(LtiPlatform).order_by(LtiPlatform.id))).scalars())
