"""The few HTML pages the LTI endpoints answer a browser with: a refusal that says why and what to do, the
assignment picker of a Deep Linking request, and the self-posting form that carries a signed message back."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

HEADERS = {"Cache-Control": "no-store"}
STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f7f8fa;color:#31333f;margin:2rem auto;max-width:40rem;"
    "padding:0 1rem}h1{font-size:1.4rem}li{margin:.4rem 0}button{font-size:1rem;padding:.3rem .8rem}"
)


def _page(title: str, body: str, status: int) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · GradeFlow</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>",
        status,
        headers=HEADERS,
    )


def refused(message: str, status: int) -> HTMLResponse:
    return _page(
        "GradeFlow could not sign you in",
        f'<p id="problem">{escape(message)}</p><p>Nothing was changed. If it keeps happening, tell your '
        "instructor or the GradeFlow operator what this page says.</p>",
        status,
    )


def picker(
    action: str, launch_id: str, course: str, assignments: list[tuple[int, str, int]]
) -> HTMLResponse:
    """The instructor picks which assignment the new LMS link opens."""
    items = "".join(
        f'<li><button name="assignment" value="{aid}">{escape(title)}</button> ({points} points)</li>'
        for aid, title, points in assignments
    )
    return _page(
        f"Link an assignment of {course}",
        f'<form method="post" action="{escape(action)}"><input type="hidden" name="launch" '
        f'value="{escape(launch_id)}"><p>Pick the assignment this link opens; the LMS gets a grade column '
        f"worth its points.</p><ul>{items or '<li>This course offers no assignments yet.</li>'}</ul></form>",
        200,
    )


def post_back(url: str, jwt: str) -> HTMLResponse:
    """A form that posts the signed message to the LMS at once (and a button, without JavaScript)."""
    return _page(
        "Returning to the LMS",
        f'<form id="back" method="post" action="{escape(url)}"><input type="hidden" name="JWT" '
        f'value="{escape(jwt)}"><button>Continue</button></form>'
        "<script>document.getElementById('back').submit()</script>",
        200,
    )
