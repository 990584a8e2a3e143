"""The dashboard as served: Streamlit's app (dashboard/app.py) plus the sign-in and sign-out routes that keep a
student signed in across reloads (see dashboard/session.py). `gradeflow dashboard` runs this file with
`streamlit run`, which finds the `st.App` below and serves it with uvicorn."""

from __future__ import annotations

from pathlib import Path

import httpx
import streamlit as st
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from streamlit import config

from dashboard import session
from gradeflow.settings import Settings

APP_SCRIPT = Path(__file__).with_name("app.py")


def base_url() -> str:
    return str(config.get_option("server.baseUrlPath") or "")


def form(action: str, status: int, problem: str | None = None, notice: str | None = None):
    return HTMLResponse(
        session.sign_in_page(action, problem, notice), status, headers=session.PAGE_HEADERS
    )


async def check_token(token: str) -> tuple[int, str | None]:
    """(HTTP status for the form, problem to show): the API decides whether the token is good."""
    api = Settings().with_runtime().resolved_api_url
    try:
        async with httpx.AsyncClient(base_url=f"{api}/api/v1", timeout=10.0) as client:
            r = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        return 503, (
            f"The GradeFlow API is not answering ({type(exc).__name__}). Try again in a minute."
        )
    if r.status_code == 200:
        return 200, None
    if r.status_code in (401, 403):
        return 401, "That token was not accepted. Check it, or ask your instructor for a new one."
    if r.status_code == 429:
        return 429, "Too many attempts. Wait a minute, then try again."
    return 503, f"The GradeFlow API could not check the token (it answered {r.status_code})."


async def sign_in(request: Request) -> Response:
    action = session.url_path(base_url(), session.SIGN_IN_PATH)
    if request.method == "GET":
        notice = "You are signed out." if request.query_params.get("signed_out") else None
        return form(action, 200, notice=notice)
    if not session.same_origin(request.headers.get("origin"), request.headers.get("host")):
        return form(action, 403, "Sign in from this dashboard's own page.")
    fields = await request.form(max_files=0, max_fields=4)
    token = session.clean_token(str(fields.get("token") or ""))
    if token is None:
        return form(action, 400, "Paste your token (it starts with gf_).")
    status, problem = await check_token(token)
    if problem:
        return form(action, status, problem)
    response = RedirectResponse(session.url_path(base_url(), ""), status_code=303)
    spec = session.cookie_for(fields.get("remember") == "1", request.url.scheme)
    response.set_cookie(value=token, **spec.attributes())
    return response


async def sign_out(request: Request) -> Response:
    # A GET, like Streamlit's own /auth/logout: the dashboard's "Sign out" is a link.
    response = RedirectResponse(
        session.url_path(base_url(), session.SIGN_IN_PATH) + "?signed_out=1", status_code=303
    )
    response.delete_cookie(session.COOKIE, path="/", httponly=True, samesite="lax")
    return response


app = st.App(
    APP_SCRIPT,
    routes=[
        Route(session.url_path(base_url(), session.SIGN_IN_PATH), sign_in, methods=["GET", "POST"]),
        Route(session.url_path(base_url(), session.SIGN_OUT_PATH), sign_out, methods=["GET"]),
    ],
)
