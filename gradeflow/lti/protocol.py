"""pylti1p3, fitted to GradeFlow: the library checks every message (state, the id token's signature against the
platform's key set, issuer, audience, expiry, deployment, message shape); these adapters give it a request, its
cookies and a session, none of which it may keep. What must outlive a request (the nonce until its launch) the
API keeps in Redis, one use only. The library is synchronous: nothing here waits on the network (the platform's
key set is fetched beforehand and handed in), so a check costs CPU only.

pylti1p3 ships adapters for Django and Flask only; these four small classes are the FastAPI equivalent."""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field
from typing import Any

import jwt
from pylti1p3.cookie import CookieService
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.lineitem import LineItem
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.request import Request
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfDict

from gradeflow.lti.keys import public_pem
from gradeflow.models import LtiPlatform

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DEEP_LINKING = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
# The custom parameter a deep link carries: the assignment the link opens
ASSIGNMENT_PARAM = "gradeflow_assignment"


class LaunchRefused(Exception):
    """A login or launch GradeFlow will not accept; the message says why, in words for the person."""


class FormRequest(Request):
    def __init__(self, params: t.Mapping[str, str], cookies: t.Mapping[str, str], secure: bool):
        self._params, self._cookies, self._secure = params, cookies, secure

    @property
    def session(self) -> None:
        return None

    def get_param(self, key: str) -> str:
        return self._params.get(key)  # type: ignore[return-value]  # the library checks for None itself

    def get_cookie(self, key: str) -> str | None:
        return self._cookies.get(key)

    def is_secure(self) -> bool:
        return self._secure


class Cookies(CookieService):
    """Cookies the library reads from the request, and those it wants set (the caller sets them)."""

    def __init__(self, request: FormRequest):
        self._request = request
        self.to_set: dict[str, tuple[str, int | None]] = {}

    def name(self, key: str) -> str:
        return f"{self._cookie_prefix}-{key}"

    def get_cookie(self, name: str) -> str | None:
        return self._request.get_cookie(self.name(name))

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600):
        self.to_set[self.name(name)] = (str(value), exp)


class OneRequest(SessionService):
    """The library's session, for one request. A state is valid only with its cookie (the library would also take
    a launch whose id token it saw before: a replay), and a nonce only when the caller found it unused."""

    def __init__(self, unused_nonce: str | None = None):
        self.unused_nonce = unused_nonce
        self.nonces: list[str] = []
        self.values: dict[str, Any] = {}

    def save_nonce(self, nonce: str) -> None:
        self.nonces.append(nonce)

    def check_nonce(self, nonce: str) -> bool:
        return self.unused_nonce is not None and nonce == self.unused_nonce

    def save_launch_data(self, key: str, jwt_body) -> None:
        self.values[key] = jwt_body

    def get_launch_data(self, key: str):
        return self.values.get(key)

    def save_state_params(self, state: str, params) -> None:
        self.values[state] = params

    def get_state_params(self, state: str):
        return self.values.get(state)

    def set_state_valid(self, state: str, id_token_hash: str) -> None:
        pass

    def check_state_is_valid(self, state: str, id_token_hash: str) -> bool:
        return False


class _Redirect(Redirect[str]):
    def __init__(self, location: str):
        self._location = location

    def do_redirect(self) -> str:
        return self._location

    def do_js_redirect(self) -> str:
        return self._location

    def set_redirect_url(self, location: str) -> None:
        self._location = location

    def get_redirect_url(self) -> str:
        return self._location


class _Login(OIDCLogin):
    def get_redirect(self, url: str) -> _Redirect:
        return _Redirect(url)


class _Launch(MessageLaunch):
    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)


def tool_config(
    platforms: t.Sequence[LtiPlatform],
    private_pem: str,
    key_sets: t.Mapping[str, dict] | None = None,
) -> ToolConfDict:
    """The library's configuration for the registered platforms, signing with `private_pem`. `key_sets` (by key
    set URL) are the platforms' public keys, fetched by the caller; without one the library would fetch it."""
    conf: dict[str, list[dict[str, Any]]] = {}
    for p in platforms:
        conf.setdefault(p.issuer, []).append(
            {
                "default": False,
                "client_id": p.client_id,
                "auth_login_url": p.auth_login_url,
                "auth_token_url": p.auth_token_url,
                "key_set_url": p.key_set_url,
                "key_set": (key_sets or {}).get(p.key_set_url),
                "deployment_ids": list(p.deployment_ids),
            }
        )
    tool = ToolConfDict(conf)  # type: ignore[arg-type]
    public = public_pem(private_pem)
    for p in platforms:
        tool.set_private_key(p.issuer, private_pem, client_id=p.client_id)
        tool.set_public_key(p.issuer, public, client_id=p.client_id)
    return tool


@dataclass
class LoginRedirect:
    url: str  # the platform's authorization endpoint, with state and nonce
    cookies: dict[str, tuple[str, int | None]]
    nonce: str


def login(
    tool: ToolConfDict, params: t.Mapping[str, str], secure: bool, launch_url: str
) -> LoginRedirect:
    """OIDC third-party login initiation: where to send the browser, and the state cookie to set."""
    request = FormRequest(params, {}, secure)
    session, cookies = OneRequest(), Cookies(request)
    try:
        url = (
            _Login(request, tool, session, cookies)
            .get_redirect_object(launch_url)
            .get_redirect_url()
        )
    except (OIDCException, LtiException) as exc:
        raise LaunchRefused(login_problem(str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - bare exceptions on unknown issuers: refused the same
        raise LaunchRefused(login_problem(str(exc))) from None
    return LoginRedirect(url, cookies.to_set, session.nonces[0])


def login_problem(message: str) -> str:
    if "registration" in message.lower() or "not found in settings" in message:
        return (
            "This LMS is not registered with GradeFlow (unknown issuer or client id). An operator registers "
            "it with `gradeflow lti add`."
        )
    return f"The LMS's login request is incomplete: {message}."


def unverified_nonce(id_token: str) -> str | None:
    """The nonce an id token claims, before anything about it is checked: to look it up (and use it up)."""
    try:
        nonce = jwt.decode(id_token, options={"verify_signature": False}).get("nonce")
    except jwt.PyJWTError:
        return None
    return nonce if isinstance(nonce, str) else None


@dataclass
class Launch:
    claims: dict[str, Any]
    platform_key: tuple[str, str] = field(default=("", ""))  # (issuer, client id)

    @property
    def message_type(self) -> str:
        return str(self.claims.get(CLAIM + "message_type", ""))

    @property
    def deployment_id(self) -> str:
        return str(self.claims.get(CLAIM + "deployment_id", ""))


def launch(
    tool: ToolConfDict,
    params: t.Mapping[str, str],
    cookies: t.Mapping[str, str],
    secure: bool,
    unused_nonce: str | None,
) -> Launch:
    """Check a launch fully; its claims, or LaunchRefused saying why. `unused_nonce`: the token's nonce when
    GradeFlow issued it and it was not used before (the caller has used it up)."""
    request = FormRequest(params, cookies, secure)
    message = _Launch(request, tool, OneRequest(unused_nonce), Cookies(request))
    # Expiry and issue time must be there (PyJWT checks them only when present); the audience is checked below
    message.set_jwt_verify_options({"verify_aud": False, "require": ["exp", "iat"]})  # type: ignore[dict-item]
    try:
        message.validate()
        claims = dict(message.get_launch_data())
    except LtiException as exc:
        raise LaunchRefused(launch_problem(str(exc))) from None
    # The library raises bare exceptions on some malformed messages (a claim of the wrong type): refused the same
    except Exception as exc:  # noqa: BLE001 - see above
        raise LaunchRefused(f"The launch is malformed ({type(exc).__name__}).") from None
    client_id = message.get_client_id()
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise LaunchRefused(
            "The launch names several audiences and GradeFlow is not the authorized one."
        )
    return Launch(claims, (str(claims.get("iss")), client_id))


def launch_problem(message: str) -> str:
    """The library's reason, as the person launching reads it (and what to do)."""
    lowered = message.lower()
    missing = re.search(r'missing the "(\w+)" claim', message)
    if missing:
        return (
            f"The launch lacks its {missing.group(1)!r} claim (expiry and issue time are required)."
        )
    table = (
        (
            "state",
            "This launch did not start here, or it was already used. Open the link in the LMS again.",
        ),
        (
            "nonce",
            "This launch was already used, or it is too old. Open the link in the LMS again.",
        ),
        ("expired", "The LMS's launch has expired. Open the link in the LMS again."),
        (
            "registration",
            "This LMS is not registered with GradeFlow (unknown issuer or client id).",
        ),
        ("client id", "This LMS is not registered with GradeFlow (unknown issuer or client id)."),
        (
            "deployment",
            "This deployment of GradeFlow in the LMS is not registered: an operator adds its id.",
        ),
        ("public key", "The launch is not signed by a key of the LMS it claims to come from."),
        ("signature", "The launch's signature does not match the LMS's keys."),
        ("decode", "The launch could not be verified: " + message + "."),
        ("jwt", "The launch is not a signed LTI message."),
        ("missing id_token", "The launch carries no id token."),
    )
    for needle, words in table:
        if needle in lowered:
            return words
    return f"The launch was refused: {message}."


def deep_link_response(
    tool: ToolConfDict,
    launched: Launch,
    title: str,
    assignment_id: int,
    points: int,
    launch_url: str,
) -> tuple[str, str]:
    """The signed Deep Linking response for one assignment (a link with a line item worth its points): the
    platform's return URL and the JWT to post there."""
    issuer, client_id = launched.platform_key
    registration = tool.find_registration_by_params(issuer, client_id)
    resource = (
        DeepLinkResource()
        .set_url(launch_url)
        .set_title(title)
        .set_custom_params({ASSIGNMENT_PARAM: str(assignment_id)})
        # The LMS makes the line item the grades go to
        .set_lineitem(_line_item(title, points, assignment_id))
    )
    settings = launched.claims[DEEP_LINKING]
    deep_link = DeepLink(registration, launched.deployment_id, settings)
    return settings["deep_link_return_url"], deep_link.get_response_jwt([resource])


def _line_item(title: str, points: int, assignment_id: int):
    return (
        LineItem()
        .set_label(title)
        .set_score_maximum(points)
        .set_resource_id(f"gradeflow-assignment-{assignment_id}")
        .set_tag("gradeflow")
    )
