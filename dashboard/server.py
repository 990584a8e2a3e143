"""The dashboard as served: Streamlit's app (dashboard/app.py) plus the sign-in and sign-out routes that keep a
student signed in across reloads (see dashboard/session.py). `gradeflow dashboard` runs this file with
`streamlit run`, which finds the `st.App` below and serves it with uvicorn."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import streamlit as st
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from dashboard import session
from gradeflow.settings import Settings

APP_SCRIPT = Path(__file__).with_name("app.py")


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
    action = session.url_path(session.base_url(), session.SIGN_IN_PATH)
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
    response = RedirectResponse(session.url_path(session.base_url(), ""), status_code=303)
    spec = session.cookie_for(fields.get("remember") == "1", request.url.scheme)
    response.set_cookie(value=token, **spec.attributes())
    return response


async def lti_landing(request: Request) -> Response:
    """GET gradeflow/lti?code=…: where an LMS launch lands. The API checked the launch and holds a sign-in for
    this browser under the one-time code; the cookie is set here, on the dashboard's own origin, and the person
    goes on to the assignment the LMS link points to."""
    action = session.url_path(session.base_url(), session.SIGN_IN_PATH)
    code = request.query_params.get("code", "")
    api = Settings().with_runtime().resolved_api_url
    try:
        async with httpx.AsyncClient(base_url=f"{api}/api/v1", timeout=10.0) as client:
            r = await client.post("/lti/sessions", json={"code": code})
    except httpx.HTTPError as exc:
        return form(
            action,
            503,
            f"The GradeFlow API is not answering ({type(exc).__name__}). Open the link in the LMS again "
            "in a minute.",
        )
    if r.status_code != 200:
        return form(
            action,
            400,
            "This sign-in link was used already or has expired: open the link in the LMS again.",
        )
    taken = r.json()
    response = RedirectResponse(
        session.url_path(session.base_url(), "") + taken["next"], status_code=303
    )
    response.set_cookie(
        value=taken["token"], **session.cookie_for(False, request.url.scheme).attributes()
    )
    return response


async def sign_out(request: Request) -> Response:
    # A GET, like Streamlit's own /auth/logout: the dashboard's "Sign out" is a link.
    response = RedirectResponse(
        session.url_path(session.base_url(), session.SIGN_IN_PATH) + "?signed_out=1",
        status_code=303,
    )
    response.delete_cookie(session.COOKIE, path="/", httponly=True, samesite="lax")
    return response


# One client for every relayed stream: an idle stream costs a socket, not a thread. A stream is quiet between a
# submission's changes but for the API's keepalive every 15 s, so a read may wait up to a minute.
_relay_client: httpx.AsyncClient | None = None


async def relay_events(request: Request) -> Response:
    """GET gradeflow/events/{submission_id}: the API's events stream for a submission, as the signed-in person
    may see it (the API checks; the token comes from the http-only cookie and never reaches the page's
    scripts). The page's follower (dashboard/common.py) listens here, so a page waiting for a verdict costs the
    dashboard no rerun until the status changes."""
    global _relay_client
    token = request.cookies.get(session.COOKIE)
    if not token:
        return Response('{"detail": "Sign in first."}', 401, media_type="application/json")
    try:
        submission = str(uuid.UUID(request.path_params["submission_id"]))
    except ValueError:
        return Response('{"detail": "Not a submission id."}', 404, media_type="application/json")
    if _relay_client is None:
        _relay_client = httpx.AsyncClient(
            base_url=f"{Settings().with_runtime().resolved_api_url}/api/v1",
            timeout=httpx.Timeout(10.0, read=60.0),
            # One connection per open stream, as many as there are pages following: httpx's default of 100
            # made the 101st page wait for a stream to end, and its pool scanned the waiting requests against
            # every connection on each change (most of the dashboard's CPU in a 300-student rush).
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
        )
    try:
        upstream = await _relay_client.send(
            _relay_client.build_request(
                "GET",
                f"/submissions/{submission}/events",
                headers={"Authorization": f"Bearer {token}"},
            ),
            stream=True,
        )
    except httpx.HTTPError as exc:
        return Response(
            f'{{"detail": "The GradeFlow API is not answering ({type(exc).__name__})."}}',
            503,
            media_type="application/json",
        )
    if upstream.status_code != 200:
        body = await upstream.aread()
        await upstream.aclose()
        return Response(body, upstream.status_code, media_type="application/json")

    async def relay():
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            pass  # the API went away: the page's follower reads the submission itself
        finally:
            await upstream.aclose()

    return StreamingResponse(
        relay(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


app = st.App(
    APP_SCRIPT,
    routes=[
        Route(
            session.url_path(session.base_url(), session.SIGN_IN_PATH),
            sign_in,
            methods=["GET", "POST"],
        ),
        Route(
            session.url_path(session.base_url(), session.SIGN_OUT_PATH), sign_out, methods=["GET"]
        ),
        Route(session.url_path(session.base_url(), session.LTI_PATH), lti_landing, methods=["GET"]),
        Route(
            session.url_path(session.base_url(), f"{session.EVENTS_PATH}/{{submission_id}}"),
            relay_events,
            methods=["GET"],
        ),
    ],
)
