"""Staying signed in (issue #12): the dashboard's sign-in form sets an http-only cookie that survives a reload,
refuses bad tokens and foreign pages, and a revoked token stops working in the dashboard too."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from playwright.sync_api import expect

from dashboard.session import COOKIE, SIGN_IN_PATH, SIGN_OUT_PATH
from tests.browser.conftest import sign_in
from tests.conftest import Stack

pytestmark = pytest.mark.integration


def post_token(url: str, token: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/{SIGN_IN_PATH}",
        data={"token": token, "remember": "1"},
        headers=headers,
        follow_redirects=False,
        timeout=30,
    )


def test_the_form_sets_an_http_only_cookie_for_a_good_token_only(stack: Stack, dashboard_url: str):
    token = stack.new_user()
    good = post_token(dashboard_url, token, Origin=dashboard_url)
    assert good.status_code == 303 and good.headers["location"] == "/", good.text
    cookie = good.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={token};"), cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=1209600" in cookie, cookie
    assert "Secure" not in cookie  # plain http here; https sets it

    forgotten = httpx.post(
        f"{dashboard_url}/{SIGN_IN_PATH}", data={"token": token}, follow_redirects=False
    )
    assert "Max-Age" not in forgotten.headers["set-cookie"]  # ends with the browser session

    wrong = post_token(dashboard_url, "gf_not-a-token")
    assert wrong.status_code == 401 and "That token was not accepted" in wrong.text
    assert "set-cookie" not in wrong.headers
    empty = post_token(dashboard_url, "   ")
    assert empty.status_code == 400 and "Paste your token" in empty.text
    foreign = post_token(dashboard_url, token, Origin="https://evil.example")
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
    assert "<script" not in post_token(dashboard_url, "<script>alert(1)</script>").text

    page = httpx.get(f"{dashboard_url}/{SIGN_IN_PATH}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    out = httpx.get(f"{dashboard_url}/{SIGN_OUT_PATH}", follow_redirects=False)
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]
    assert "Max-Age=0" in out.headers["set-cookie"]


def test_a_reload_keeps_a_student_signed_in_until_they_sign_out_or_are_revoked(
    stack: Stack, dashboard_url: str, new_page
):
    token = stack.new_user()
    with stack.client(token) as c:
        name = c.get("/me").json()["name"]
    page = new_page()
    sign_in(page, dashboard_url, token)
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()
    assert token not in page.url
    assert COOKIE not in page.evaluate("document.cookie")  # the script in the page cannot read it

    page.reload()
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()
    page.goto(dashboard_url)  # a new visit, same browser
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()

    page.get_by_role("link", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(dashboard_url)
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_have_count(0)

    sign_in(page, dashboard_url, token)
    revoked = subprocess.run(
        [sys.executable, "-m", "gradeflow", "users", "revoke", name],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert revoked.returncode == 0, revoked.stderr
    page.reload()
    expect(page.get_by_text("That token was not accepted")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in again")).to_be_visible()
