"""A small LMS for the tests, speaking LTI 1.3 to GradeFlow for real, offline: it initiates logins, signs id
tokens at its authorization endpoint, publishes its key set, grants service tokens to GradeFlow's signed client
assertions, and keeps AGS line items and scores and an NRPS roster. Served by uvicorn in a thread on a free port.

A test prepares a launch (who, in which course, which link, which message) and gets the URL that starts it, as an
LMS page's link would; a browser or httpx follows it."""

from __future__ import annotations

import html
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_private_key() -> tuple[str, dict[str, Any]]:
    """A PEM private key and its public JWK (kid: the thumbprint)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = JWK.from_pem(pem.encode())
    public = {
        **jwk.export_public(as_dict=True),
        "kid": jwk.thumbprint(),
        "alg": "RS256",
        "use": "sig",
    }
    return pem, public


@dataclass
class Person:
    sub: str
    name: str
    email: str
    roles: list[str]
    sis_id: str = ""


@dataclass
class Prepared:
    """A launch the test set up: the claims the id token will carry, and what to change about the token."""

    person: Person
    claims: dict[str, Any]
    tamper: dict[str, Any] = field(default_factory=dict)


class Lms:
    def __init__(
        self,
        issuer_path: str = "",
        client_id: str = "gradeflow-client",
        deployment_id: str = "dep-1",
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = self.url + issuer_path
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.private_pem, self.public_jwk = new_private_key()
        self.tool_login_url = ""
        self.tool_jwks_url = ""
        self.prepared: dict[str, Prepared] = {}
        self.line_items: dict[
            str, dict[str, Any]
        ] = {}  # id -> line item, with its "scores" by user
        self.members: list[Person] = []
        self.down = False  # the services (token, AGS, NRPS) answer 503 while set
        self.deep_link_returns: list[dict[str, Any]] = []
        self.tokens: set[str] = set()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- what a registration in GradeFlow needs -------------------------------------------------------------------
    def registration(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "auth_login_url": self.url + "/auth",
            "auth_token_url": self.url + "/token",
            "key_set_url": self.url + "/jwks",
            "deployment_ids": [self.deployment_id],
        }

    # --- preparing launches -----------------------------------------------------------------------------------------
    def person(self, name: str, instructor: bool = False) -> Person:
        return Person(
            sub=f"sub-{uuid.uuid4().hex[:12]}",
            name=name,
            email=f"{name}-{uuid.uuid4().hex[:6]}@school.example",
            roles=[INSTRUCTOR if instructor else LEARNER],
            sis_id=f"sis-{uuid.uuid4().hex[:8]}",
        )

    def prepare(
        self,
        who: Person,
        course: str,
        link: str | None = None,
        message: str = "LtiResourceLinkRequest",
        custom: dict[str, str] | None = None,
        tamper: dict[str, Any] | None = None,
    ) -> str:
        """A launch of `who` in `course` through `link`; returns the URL of the LMS page that starts it."""
        claims: dict[str, Any] = {
            CLAIM + "message_type": message,
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": self.deployment_id,
            CLAIM + "roles": who.roles,
            CLAIM + "context": {"id": course, "label": course.upper(), "title": f"Course {course}"},
            CLAIM + "lis": {"person_sourcedid": who.sis_id},
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": f"{self.url}/courses/{course}/memberships",
                "service_versions": ["2.0"],
            },
            "name": who.name,
            "email": who.email,
        }
        ags = {
            "scope": [
                "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                "https://purl.imsglobal.org/spec/lti-ags/scope/score",
            ],
            "lineitems": f"{self.url}/courses/{course}/lineitems",
        }
        if message == "LtiResourceLinkRequest":
            claims[CLAIM + "target_link_uri"] = self.tool_login_url.replace("/login", "/launch")
            claims[CLAIM + "resource_link"] = {"id": link or f"link-{uuid.uuid4().hex[:8]}"}
            item = self._item_for(course, link) if link else None
            if item:
                ags["lineitem"] = item
            if custom:
                claims[CLAIM + "custom"] = custom
        else:
            claims[CLAIM + "target_link_uri"] = self.tool_login_url.replace(
                "/login", "/deep-linking"
            )
            claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "deep_link_return_url": f"{self.url}/courses/{course}/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["window"],
                "data": f"dl-{course}",
            }
        claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"] = ags
        hint = secrets.token_urlsafe(8)
        self.prepared[hint] = Prepared(who, claims, tamper or {})
        return f"{self.url}/start/{hint}"

    def _item_for(self, course: str, link: str) -> str | None:
        for item_id, item in self.line_items.items():
            if item.get("course") == course and item.get("resourceLinkId") == link:
                return f"{self.url}/courses/{course}/lineitems/{item_id}"
        return None

    # --- signing ----------------------------------------------------------------------------------------------------
    def id_token(self, prepared: Prepared, nonce: str) -> str:
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": prepared.person.sub,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **prepared.claims,
        }
        tamper = prepared.tamper
        body.update(tamper.get("claims", {}))
        for name in tamper.get("drop", ()):
            body.pop(name, None)
        if tamper.get("unsigned"):
            return jwt.encode(body, None, algorithm="none")
        key = tamper.get("key", self.private_pem)
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": self.public_jwk["kid"]})

    # --- the server -----------------------------------------------------------------------------------------------
    def app(self) -> Starlette:
        async def start(request: Request) -> Response:
            # An LMS page's link to the tool: third-party initiated login
            hint = request.path_params["hint"]
            params = {
                "iss": self.issuer,
                "login_hint": hint,
                "target_link_uri": self.prepared[hint].claims[CLAIM + "target_link_uri"],
                "lti_message_hint": hint,
                "client_id": self.client_id,
            }
            return RedirectResponse(str(httpx.URL(self.tool_login_url, params=params)), 302)

        async def auth(request: Request) -> Response:
            q = request.query_params
            prepared = self.prepared.get(q.get("login_hint", ""))
            if prepared is None or q.get("client_id") != self.client_id:
                return JSONResponse({"error": "unknown login"}, 400)
            token = self.id_token(prepared, q["nonce"])
            return HTMLResponse(
                f'<form id="f" method="post" action="{html.escape(q["redirect_uri"])}">'
                f'<input type="hidden" name="id_token" value="{token}">'
                f'<input type="hidden" name="state" value="{html.escape(q["state"])}"></form>'
                "<script>document.getElementById('f').submit()</script>"
            )

        async def jwks(request: Request) -> Response:
            return JSONResponse({"keys": [self.public_jwk]})

        async def token(request: Request) -> Response:
            if self.down:
                return JSONResponse({"error": "down"}, 503)
            form = await request.form()
            assertion = str(form.get("client_assertion", ""))
            keys = httpx.get(self.tool_jwks_url, timeout=10).json()["keys"]
            kid = jwt.get_unverified_header(assertion).get("kid")
            key = next((k for k in keys if k["kid"] == kid), None)
            if key is None:
                return JSONResponse({"error": "invalid_client"}, 401)
            public = JWK(**key).export_to_pem()
            try:
                jwt.decode(assertion, public, algorithms=["RS256"], audience=self.url + "/token")
            except jwt.PyJWTError as exc:
                return JSONResponse({"error": "invalid_client", "detail": str(exc)}, 401)
            access = secrets.token_urlsafe(16)
            self.tokens.add(access)
            return JSONResponse(
                {
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "scope": form.get("scope"),
                }
            )

        def authorized(request: Request) -> bool:
            auth_header = request.headers.get("authorization", "")
            return auth_header.removeprefix("Bearer ") in self.tokens

        async def lineitems(request: Request) -> Response:
            if self.down:
                return JSONResponse({"error": "down"}, 503)
            if not authorized(request):
                return JSONResponse({"error": "unauthorized"}, 401)
            course = request.path_params["course"]
            if request.method == "POST":
                item = await request.json()
                item_id = uuid.uuid4().hex[:8]
                self.line_items[item_id] = {**item, "course": course, "scores": {}}
                return JSONResponse(self._item_out(course, item_id), 201)
            return JSONResponse(
                [
                    self._item_out(course, i)
                    for i, it in self.line_items.items()
                    if it["course"] == course
                ]
            )

        async def scores(request: Request) -> Response:
            if self.down:
                return JSONResponse({"error": "down"}, 503)
            if not authorized(request):
                return JSONResponse({"error": "unauthorized"}, 401)
            item = self.line_items.get(request.path_params["item"])
            if item is None:
                return JSONResponse({"error": "no such line item"}, 404)
            score = await request.json()
            previous = item["scores"].get(score["userId"])
            # As the spec says: a score older than the one held is ignored
            if previous is None or previous["timestamp"] <= score["timestamp"]:
                item["scores"][score["userId"]] = score
            return Response(status_code=204)

        async def memberships(request: Request) -> Response:
            if self.down:
                return JSONResponse({"error": "down"}, 503)
            if not authorized(request):
                return JSONResponse({"error": "unauthorized"}, 401)
            course = request.path_params["course"]
            return JSONResponse(
                {
                    "id": str(request.url),
                    "context": {"id": course, "label": course.upper(), "title": f"Course {course}"},
                    "members": [
                        {
                            "status": "Active",
                            "user_id": p.sub,
                            "name": p.name,
                            "email": p.email,
                            "lis_person_sourcedid": p.sis_id,
                            "roles": p.roles,
                        }
                        for p in self.members
                    ],
                },
                media_type="application/vnd.ims.lti-nrps.v2.membershipcontainer+json",
            )

        async def deep_link_return(request: Request) -> Response:
            form = await request.form()
            signed = str(form.get("JWT", ""))
            keys = httpx.get(self.tool_jwks_url, timeout=10).json()["keys"]
            kid = jwt.get_unverified_header(signed).get("kid")
            key = next(k for k in keys if k["kid"] == kid)
            body = jwt.decode(
                signed, JWK(**key).export_to_pem(), algorithms=["RS256"], audience=self.issuer
            )
            course = request.path_params["course"]
            items = body["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
            self.deep_link_returns.append(body)
            made = []
            for content in items:
                link = f"link-{uuid.uuid4().hex[:8]}"
                if "lineItem" in content:
                    item_id = uuid.uuid4().hex[:8]
                    self.line_items[item_id] = {
                        **content["lineItem"],
                        "resourceLinkId": link,
                        "course": course,
                        "scores": {},
                    }
                made.append(
                    {
                        "link": link,
                        "title": content.get("title"),
                        "custom": content.get("custom", {}),
                    }
                )
            self.made_links = made
            return HTMLResponse(
                "<h1>Link added</h1>"
                + "".join(f'<p class="link">{html.escape(m["title"] or "")}</p>' for m in made)
            )

        return Starlette(
            routes=[
                Route("/start/{hint}", start),
                Route("/auth", auth),
                Route("/jwks", jwks),
                Route("/token", token, methods=["POST"]),
                Route("/courses/{course}/lineitems", lineitems, methods=["GET", "POST"]),
                Route("/courses/{course}/lineitems/{item}/scores", scores, methods=["POST"]),
                Route("/courses/{course}/memberships", memberships),
                Route("/courses/{course}/deep-link-return", deep_link_return, methods=["POST"]),
            ]
        )

    def _item_out(self, course: str, item_id: str) -> dict[str, Any]:
        item = self.line_items[item_id]
        return {
            "id": f"{self.url}/courses/{course}/lineitems/{item_id}",
            **{k: v for k, v in item.items() if k not in ("scores", "course")},
        }

    def score_of(self, item_url: str, sub: str) -> dict[str, Any] | None:
        return self.line_items[item_url.rsplit("/", 1)[1]]["scores"].get(sub)

    # --- lifecycle --------------------------------------------------------------------------------------------------
    def start(self) -> Lms:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test LMS did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving (the port refuses connections) until start() again; what it holds is kept."""
        if self._server is not None:
            self._server.should_exit = True
            deadline = time.monotonic() + 10
            while self._thread is not None and self._thread.is_alive():
                if time.monotonic() > deadline:
                    raise RuntimeError("the test LMS did not stop")
                time.sleep(0.02)
            self._server = None
