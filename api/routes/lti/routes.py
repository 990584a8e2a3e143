"""LTI 1.3 endpoints. The protocol's (login initiation, launch, key set, deep linking) are for an LMS and a
browser: plain form posts and redirects, answered with pages, outside the OpenAPI document. The operators'
(registrations, the URLs to give an LMS) and the dashboard's (a launch's sign-in handed over) are JSON under
/api/v1/lti."""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Annotated, Any

import httpx
import jwt
from fastapi import APIRouter, Body, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.responses import JSONResponse, RedirectResponse, Response

from api.deps import Operator, RedisDep, SessionDep, SettingsDep, Staff, TemporalDep, taught_cohort
from api.errors import ApiError
from api.routes.lti import pages
from api.schemas import ANY_REQUEST, STAFF, errors
from gradeflow.lti import keys, roster
from gradeflow.lti.admit import RoleConflict, admit, find_platform, sign_in
from gradeflow.lti.platforms import (
    DEEP_LINKING_PATH,
    JWKS_PATH,
    LAUNCH_PATH,
    LOGIN_PATH,
    NewPlatform,
    PlatformError,
    add_platform,
    all_platforms,
    tool_urls,
)
from gradeflow.lti.protocol import (
    DEEP_LINKING,
    Launch,
    LaunchRefused,
    deep_link_response,
    launch,
    login,
    tool_config,
    unverified_nonce,
)
from gradeflow.models import Assignment, Cohort, LtiGradePost, LtiLink, LtiPlatform, Offering, User
from gradeflow.vocabulary import Role
from workflows.start import start_post_grades

log = logging.getLogger("gradeflow.api.lti")

protocol = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/lti", tags=["lti"])

NONCE_SECONDS = 600  # from login initiation to launch
HANDOFF_SECONDS = 120  # from the launch to the dashboard taking the sign-in
DEEP_LINK_SECONDS = 1800  # an instructor picking an assignment
KEY_SET_SECONDS = (
    300  # a platform's key set is fetched again after this, or when a launch names a new key
)


def _key(kind: str, value: str) -> str:
    return f"gradeflow:lti:{kind}:{value}"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def _form(request: Request) -> dict[str, str]:
    if request.method == "GET":
        return dict(request.query_params)
    form = await request.form(max_files=0, max_fields=20)
    return {k: str(v) for k, v in form.items()}


# A platform's public keys by key set URL: (fetched at, key set)
_key_sets: dict[str, tuple[float, dict[str, Any]]] = {}


async def key_set_for(platform: LtiPlatform, kid: str | None) -> dict[str, Any]:
    """The platform's key set, fetched here (the library would block a thread on it), kept a few minutes."""
    cached = _key_sets.get(platform.key_set_url)
    fresh = cached and time.monotonic() - cached[0] < KEY_SET_SECONDS
    if cached and fresh and any(k.get("kid") == kid for k in cached[1].get("keys", [])):
        return cached[1]
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(platform.key_set_url)
            answer.raise_for_status()
            found = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise LaunchRefused(
            f"GradeFlow could not fetch the LMS's public keys from {platform.key_set_url} "
            f"({type(exc).__name__}); try again in a minute."
        ) from None
    if not isinstance(found, dict) or not isinstance(found.get("keys"), list):
        raise LaunchRefused(f"The LMS's key set at {platform.key_set_url} is not a JWK set.")
    _key_sets[platform.key_set_url] = (time.monotonic(), found)
    return found


async def _tool(session, platforms: list[LtiPlatform], key_sets: dict[str, dict] | None = None):
    key = await keys.signing_key(session)
    await session.commit()  # a key made on first use is kept
    try:
        return tool_config(platforms, keys.unlocked(key), key_sets)
    except keys.KeyLocked as exc:
        log.error("%s", exc)
        raise LaunchRefused(
            "GradeFlow cannot sign in anyone from an LMS right now (its signing key is locked); the operator "
            "has been told."
        ) from None


@protocol.api_route(LOGIN_PATH, methods=["GET", "POST"])
async def lti_login(request: Request, session: SessionDep, redis: RedisDep, settings: SettingsDep):
    """OIDC login initiation: the LMS sends the browser here first; it goes back to the LMS to sign the launch."""
    params = await _form(request)
    try:
        tool = await _tool(session, await all_platforms(session))
        redirect = login(
            tool, params, _secure(request), tool_urls(settings.resolved_public_api_url)["launch"]
        )
    except LaunchRefused as exc:
        return pages.refused(str(exc), 400)
    await redis.set(_key("nonce", redirect.nonce), "1", ex=NONCE_SECONDS)
    response = RedirectResponse(redirect.url, status_code=302)
    secure = _secure(request)
    for name, (value, max_age) in redirect.cookies.items():
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            secure=secure,
            # The launch comes back as a cross-site form post: only SameSite=None (which needs https) sends
            # the state cookie with it; over plain http (one machine) Lax does, the site being the same.
            samesite="none" if secure else "lax",
            path="/",
        )
    return response


async def _checked_launch(request: Request, session, redis) -> tuple[Launch, LtiPlatform]:
    params = await _form(request)
    id_token = params.get("id_token") or ""
    nonce = unverified_nonce(id_token)
    # Used up now, whatever follows: a launch is accepted once
    unused = nonce if nonce and await redis.getdel(_key("nonce", nonce)) else None
    platforms = await all_platforms(session)
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise LaunchRefused("The launch carries no signed LTI message (id_token).") from None
    audience = claims.get("aud")
    client_id = audience[0] if isinstance(audience, list) and audience else audience
    named = [p for p in platforms if p.issuer == claims.get("iss") and p.client_id == client_id]
    if not named:
        raise LaunchRefused(
            "This launch comes from an LMS that is not registered with GradeFlow (unknown issuer or "
            "client id). An operator registers it with `gradeflow lti add`."
        )
    key_sets = {p.key_set_url: await key_set_for(p, header.get("kid")) for p in named}
    tool = await _tool(session, platforms, key_sets)
    # The checks are CPU only (signature, claims); the library is synchronous
    launched = await run_in_threadpool(
        launch, tool, params, dict(request.cookies), _secure(request), unused
    )
    platform = await find_platform(session, *launched.platform_key)
    return launched, platform


@protocol.post(LAUNCH_PATH)
@protocol.post(DEEP_LINKING_PATH)
async def lti_launch(request: Request, session: SessionDep, redis: RedisDep, settings: SettingsDep):
    """The LMS posts the signed launch here; the person lands on the dashboard signed in, on the linked
    assignment (or, for a Deep Linking request, picks one)."""
    try:
        launched, platform = await _checked_launch(request, session, redis)
    except LaunchRefused as exc:
        return pages.refused(str(exc), 401)
    try:
        admitted = await admit(session, platform, launched.claims, launched.deployment_id)
    except RoleConflict as exc:
        await session.rollback()
        return pages.refused(str(exc), 403)
    if launched.message_type == "LtiDeepLinkingRequest":
        if admitted.user.role != Role.INSTRUCTOR or admitted.cohort is None:
            await session.rollback()
            return pages.refused(
                "Only the course's instructors add GradeFlow assignments to it.", 403
            )
        await session.commit()
        launch_id = secrets.token_urlsafe(24)
        await redis.set(
            _key("deep-link", launch_id),
            json.dumps({"claims": launched.claims, "cohort": admitted.cohort.id}),
            ex=DEEP_LINK_SECONDS,
        )
        offered = (
            await session.execute(
                select(Assignment.id, Assignment.title, Assignment.points)
                .join(Offering, Offering.assignment_id == Assignment.id)
                .where(Offering.cohort_id == admitted.cohort.id)
                .order_by(Assignment.position, Assignment.id)
            )
        ).all()
        return pages.picker(
            DEEP_LINKING_PATH + "/choose",
            launch_id,
            admitted.cohort.title or admitted.cohort.slug,
            [(a.id, a.title, a.points) for a in offered],
        )
    if launched.message_type != "LtiResourceLinkRequest":
        await session.rollback()
        return pages.refused(f"GradeFlow does not take {launched.message_type} launches.", 400)
    token = await sign_in(session, admitted.user, settings.lti_session_hours)
    await session.commit()
    landing = f"?assignment={admitted.assignment.slug}" if admitted.assignment else ""
    code = secrets.token_urlsafe(24)
    await redis.set(
        _key("handoff", code), json.dumps({"token": token, "next": landing}), ex=HANDOFF_SECONDS
    )
    return RedirectResponse(
        f"{settings.resolved_public_dashboard_url}/gradeflow/lti?code={code}", status_code=303
    )


@protocol.post(DEEP_LINKING_PATH + "/choose")
async def lti_deep_link_choose(
    request: Request, session: SessionDep, redis: RedisDep, settings: SettingsDep
):
    """The instructor's pick goes back to the LMS as a signed link to that assignment, with its line item."""
    params = await _form(request)
    saved = await redis.getdel(_key("deep-link", params.get("launch", "")))
    if not saved:
        return pages.refused(
            "This choice took too long or was already made. Add GradeFlow in the LMS again.", 400
        )
    picked = json.loads(saved)
    aid = params.get("assignment", "")
    assignment = (
        await session.execute(
            select(Assignment)
            .join(Offering, Offering.assignment_id == Assignment.id)
            .where(
                Offering.cohort_id == picked["cohort"],
                Assignment.id == (int(aid) if aid.isdigit() else -1),
            )
        )
    ).scalar_one_or_none()
    if assignment is None:
        return pages.refused("That assignment is not offered to this course.", 400)
    launched = Launch(picked["claims"])
    launched.platform_key = (str(launched.claims["iss"]), _client_id(launched.claims))
    if DEEP_LINKING not in launched.claims:
        return pages.refused("The LMS did not ask for a link.", 400)
    try:
        tool = await _tool(session, await all_platforms(session))
    except LaunchRefused as exc:
        return pages.refused(str(exc), 503)
    url, signed = deep_link_response(
        tool,
        launched,
        assignment.title,
        assignment.id,
        assignment.points,
        tool_urls(settings.resolved_public_api_url)["launch"],
    )
    return pages.post_back(url, signed)


def _client_id(claims: dict[str, Any]) -> str:
    audience = claims.get("aud")
    return str(audience[0] if isinstance(audience, list) else audience)


@protocol.get(JWKS_PATH)
async def lti_jwks(session: SessionDep) -> Response:
    """GradeFlow's public keys, for the LMS to check what GradeFlow signs (deep links, service requests)."""
    found = await keys.key_set(session)
    if not found["keys"]:
        await keys.signing_key(session)
        await session.commit()
        found = await keys.key_set(session)
    return JSONResponse(found, headers={"Cache-Control": "public, max-age=300"})


# --- JSON: the dashboard and operators ---------------------------------------------------------------------------


class HandoffIn(BaseModel):
    code: str = Field(
        min_length=1, max_length=100, description="The code a launch sent the browser with"
    )


class HandoffOut(BaseModel):
    token: str = Field(description="The browser's sign-in token (ends on its own)")
    next: str = Field(description="Where on the dashboard the launch lands, as a query string")


@router.post("/sessions", response_model=HandoffOut, responses=errors(*ANY_REQUEST, 404))
async def take_launch_sign_in(redis: RedisDep, body: Annotated[HandoffIn, Body()]):
    """The dashboard takes the sign-in a launch made (once, within two minutes) to set its cookie."""
    saved = await redis.getdel(_key("handoff", body.code))
    if not saved:
        raise ApiError(
            404,
            "This sign-in link was used already or has expired: open the link in the LMS again.",
        )
    return HandoffOut(**json.loads(saved))


class UrlsOut(BaseModel):
    login: str = Field(description="OIDC login initiation URL")
    launch: str = Field(description="Launch (redirect) URL")
    jwks: str = Field(description="GradeFlow's public key set URL")
    deep_linking: str = Field(description="Deep Linking URL")


@router.get("/urls", response_model=UrlsOut, responses=errors(*STAFF))
async def lti_urls(_: Operator, settings: SettingsDep):
    """The URLs to give an LMS when registering GradeFlow in it (absolute, under the public API URL)."""
    return UrlsOut(**tool_urls(settings.resolved_public_api_url))


class PlatformIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="What operators call this LMS")
    issuer: str = Field(min_length=1, max_length=500, description="The LMS's issuer (iss)")
    client_id: str = Field(
        min_length=1, max_length=255, description="The client id the LMS gave GradeFlow"
    )
    auth_login_url: str = Field(
        min_length=1, max_length=1000, description="The LMS's OIDC authorization URL"
    )
    auth_token_url: str = Field(
        min_length=1, max_length=1000, description="The LMS's OAuth2 token URL"
    )
    key_set_url: str = Field(
        min_length=1, max_length=1000, description="The LMS's public key set (JWKS) URL"
    )
    deployment_ids: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        min_length=1, max_length=100, description="The deployment ids GradeFlow is trusted for"
    )


class PlatformOut(BaseModel):
    id: int
    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: list[str]


def platform_out(p: LtiPlatform) -> PlatformOut:
    return PlatformOut.model_validate(p, from_attributes=True)


@router.get("/platforms", response_model=list[PlatformOut], responses=errors(*STAFF))
async def list_lti_platforms(_: Operator, session: SessionDep):
    """The LMSs registered with GradeFlow."""
    return [platform_out(p) for p in await all_platforms(session)]


@router.post(
    "/platforms", status_code=201, response_model=PlatformOut, responses=errors(*STAFF, 409)
)
async def add_lti_platform(
    _: Operator, session: SessionDep, temporal: TemporalDep, body: PlatformIn
):
    """Register an LMS: its issuer, the client id it gave GradeFlow, its endpoints and key set, and the
    deployment ids to trust."""
    try:
        new = NewPlatform(**body.model_dump() | {"deployment_ids": tuple(body.deployment_ids)})
        platform = await add_platform(session, new)
    except PlatformError as exc:
        status = 409 if "already" in str(exc) else 422
        raise ApiError(status, str(exc)) from None
    await session.commit()
    try:  # its grades' workflow; without Temporal now, the worker starts it within minutes
        await start_post_grades(temporal, platform.id)
    except Exception as exc:  # noqa: BLE001 - see above
        log.warning("LMS %s registered; its grade posting starts later: %s", platform.name, exc)
    return platform_out(platform)


class GradePostProblem(BaseModel):
    platform: str
    student: str
    assignment_id: int
    cohort: str
    attempts: int = Field(description="Failed tries since the grade was last sent")
    last_error: str | None
    marked_at: str = Field(description="When the grade changed (ISO 8601)")


class GradePostsOut(BaseModel):
    pending: int = Field(description="Grades changed and not yet in their LMS")
    failed: int = Field(
        description="Of those, grades whose last try failed (retried until the LMS takes them)"
    )
    sent: int = Field(description="Grades the LMSs hold as they are now")
    problems: list[GradePostProblem] = Field(
        description="The failing ones, oldest first (up to 100)"
    )


@router.get("/grades", response_model=GradePostsOut, responses=errors(*STAFF))
async def lti_grade_posts(_: Operator, session: SessionDep):
    """Grades on their way to the LMSs: how many wait, how many failed their last try and why."""
    pending = LtiGradePost.posted_mark.is_distinct_from(LtiGradePost.marked_at)
    counts = (
        await session.execute(
            select(
                func.count().filter(pending),
                func.count().filter(pending, LtiGradePost.attempts > 0),
                func.count().filter(~pending, LtiGradePost.posted_score.is_not(None)),
            )
        )
    ).one()
    rows = (
        await session.execute(
            select(LtiGradePost, LtiPlatform.name, User.name, LtiLink.assignment_id, Cohort.slug)
            .join(LtiPlatform, LtiPlatform.id == LtiGradePost.platform_id)
            .join(User, User.id == LtiGradePost.user_id)
            .join(
                LtiLink,
                (LtiLink.platform_id == LtiGradePost.platform_id)
                & (LtiLink.resource_link_id == LtiGradePost.resource_link_id),
            )
            .join(Cohort, Cohort.id == LtiLink.cohort_id)
            .where(pending, LtiGradePost.attempts > 0)
            .order_by(LtiGradePost.marked_at)
            .limit(100)
        )
    ).all()
    return GradePostsOut(
        pending=counts[0],
        failed=counts[1],
        sent=counts[2],
        problems=[
            GradePostProblem(
                platform=platform,
                student=student,
                assignment_id=assignment_id,
                cohort=cohort,
                attempts=post.attempts,
                last_error=post.last_error,
                marked_at=post.marked_at.isoformat(),
            )
            for post, platform, student, assignment_id, cohort in rows
        ],
    )


class RosterMemberOut(BaseModel):
    name: str = Field(description="Their name in the LMS")
    email: str | None
    role: str = Field(description="What they would be on GradeFlow: student or instructor")


class RosterOut(BaseModel):
    cohort: str
    applied: bool = Field(description="Whether the changes were made (false: a preview)")
    add: list[RosterMemberOut] = Field(description="In the LMS course, not yet in the cohort")
    drop: list[str] = Field(
        description="GradeFlow names of people from this LMS no longer in the course (they keep their work)"
    )
    unchanged: int


async def _roster(user, session, cohort_slug: str, apply_it: bool) -> RosterOut:
    if user.role == Role.OPERATOR:
        cohort = (
            await session.execute(select(Cohort).where(Cohort.slug == cohort_slug))
        ).scalar_one_or_none()
        if cohort is None:
            raise ApiError(404, f"Cohort '{cohort_slug}' does not exist.")
    else:
        cohort = await taught_cohort(session, user, cohort_slug, "sync its roster")
    try:
        plan = await roster.sync(session, cohort, apply_it)
    except roster.RosterError as exc:
        raise ApiError(409, str(exc)) from None
    await session.commit()
    return RosterOut(
        cohort=plan.cohort,
        applied=apply_it,
        add=[RosterMemberOut(name=m.name, email=m.email, role=m.role) for m in plan.add],
        drop=plan.drop,
        unchanged=plan.unchanged,
    )


@router.get("/rosters/{cohort}", response_model=RosterOut, responses=errors(*STAFF, 404, 409))
async def preview_lms_roster(cohort: str, user: Staff, session: SessionDep):
    """Who syncing the cohort with its LMS course would add and drop; changes nothing."""
    return await _roster(user, session, cohort, apply_it=False)


@router.post("/rosters/{cohort}", response_model=RosterOut, responses=errors(*STAFF, 404, 409))
async def sync_lms_roster(cohort: str, user: Staff, session: SessionDep):
    """Sync the cohort with its LMS course now: new members get an account and join, members the LMS no longer
    lists leave the cohort (their submissions and grades are kept). People added by hand are never dropped."""
    return await _roster(user, session, cohort, apply_it=True)
