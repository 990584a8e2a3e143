"""Staying signed in: the sign-in form and the http-only cookie that carries the token across page reloads.

Streamlit's script cannot set a cookie (it speaks to the browser over a websocket), so the dashboard runs as an
`st.App` with two plain HTTP routes beside the app: a form that checks the token against the API and answers with
`Set-Cookie`, and a sign-out that clears it. Scripts in the page never see the token (HttpOnly), other sites cannot
post it (SameSite=Lax, and the form refuses a foreign Origin), and it never appears in a URL. The script reads it
from the websocket's handshake through `st.context.cookies`. A revoked token stops working in the dashboard at once,
because every page asks the API with it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import urlsplit

COOKIE = "gradeflow_session"
SIGN_IN_PATH = "gradeflow/sign-in"
SIGN_OUT_PATH = "gradeflow/sign-out"
# Where an LMS launch lands (with a one-time code the API gave it): the cookie is set there
LTI_PATH = "gradeflow/lti"
# A submission's events stream relayed on the dashboard's own origin (dashboard/server.py), signed in by the cookie
EVENTS_PATH = "gradeflow/events"
# A remembered sign-in lasts this long; otherwise the cookie ends with the browser session.
REMEMBER_DAYS = 14
# Tokens are printed as gf_ + 32 URL-safe characters; anything far longer is not a token.
MAX_TOKEN_LENGTH = 200


def current_token() -> str | None:
    """The token of the browser this page runs in: from the cookie its websocket connected with."""
    import streamlit as st

    return st.context.cookies.get(COOKIE)


def base_url() -> str:
    """Streamlit's `server.baseUrlPath` (empty unless the dashboard is served under a path)."""
    from streamlit import config

    return str(config.get_option("server.baseUrlPath") or "")


def url_path(base_url: str, path: str) -> str:
    """A path under Streamlit's `server.baseUrlPath` (which may be empty)."""
    base = base_url.strip("/")
    return f"/{base}/{path}" if base else f"/{path}"


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a form post came from this dashboard: browsers send Origin on POST; a missing one (old browsers,
    curl) is allowed, a foreign one is refused (sign-in CSRF would sign the victim in as the attacker)."""
    if not origin:
        return True
    if origin == "null" or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


@dataclass(frozen=True)
class CookieSpec:
    max_age: int | None
    secure: bool

    def attributes(self) -> dict:
        return {
            "key": COOKIE,
            "max_age": self.max_age,
            "httponly": True,
            "samesite": "lax",
            "secure": self.secure,
            "path": "/",
        }


def cookie_for(remember: bool, scheme: str) -> CookieSpec:
    return CookieSpec(max_age=REMEMBER_DAYS * 86400 if remember else None, secure=scheme == "https")


def clean_token(raw: str) -> str | None:
    """The token as typed (spaces around it from a copy and paste dropped), or None when it cannot be one."""
    token = raw.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        return None
    return token


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · GradeFlow</title>
<style>
body {{ font-family: "Source Sans Pro", system-ui, sans-serif; background: #f7f8fa; color: #31333f; margin: 0; }}
main {{ max-width: 26rem; margin: 12vh auto; background: #fff; padding: 2rem 2.25rem; border-radius: .75rem;
        box-shadow: 0 1px 4px rgba(0,0,0,.08); }}
h1 {{ font-size: 1.6rem; margin: 0 0 .25rem; }}
p {{ line-height: 1.45; }}
label {{ display: block; font-weight: 600; margin: 1.25rem 0 .35rem; }}
input[type=password] {{ width: 100%; box-sizing: border-box; padding: .6rem .7rem; font-size: 1rem;
        border: 1px solid #c7c9d1; border-radius: .4rem; }}
.remember {{ font-weight: 400; display: flex; gap: .5rem; align-items: center; }}
button {{ margin-top: 1.25rem; width: 100%; padding: .65rem; font-size: 1rem; border: 0; border-radius: .4rem;
        background: #ff4b4b; color: #fff; cursor: pointer; }}
.problem {{ background: #ffecec; color: #7d1a1a; padding: .7rem .85rem; border-radius: .4rem; }}
.notice {{ background: #e8f4ea; color: #1b5e20; padding: .7rem .85rem; border-radius: .4rem; }}
.hint {{ color: #6b6e7a; font-size: .9rem; }}
</style></head>
<body><main>
<h1>GradeFlow</h1>
<p class="hint">Sign in with your personal API token (from your instructor, or printed by <code>gradeflow up</code>).</p>
{message}
<form method="post" action="{action}">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus maxlength="{max_length}">
<label class="remember"><input type="checkbox" name="remember" value="1" checked>
Keep me signed in on this browser for {days} days</label>
<button type="submit">Sign in</button>
</form>
</main></body></html>
"""


def sign_in_page(action: str, problem: str | None = None, notice: str | None = None) -> str:
    message = ""
    if problem:
        message = f'<p class="problem" role="alert">{html.escape(problem)}</p>'
    elif notice:
        message = f'<p class="notice" role="status">{html.escape(notice)}</p>'
    return PAGE.format(
        message=message,
        action=html.escape(action, quote=True),
        max_length=MAX_TOKEN_LENGTH,
        days=REMEMBER_DAYS,
    )


def link_html(href: str, label: str, primary: bool) -> str:
    colours = (
        "background:#ff4b4b;color:#fff;" if primary else "border:1px solid #c7c9d1;color:inherit;"
    )
    return (
        f'<a href="{html.escape(href, quote=True)}" style="{colours}display:inline-block;padding:.4rem .9rem;'
        f'border-radius:.5rem;text-decoration:none">{html.escape(label)}</a>'
    )


# The sign-in page is never cached, framed or named in another site's Referer.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",  # no-referrer would make Chrome post "Origin: null"
}
