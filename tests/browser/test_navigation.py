"""Navigation a student can trust, in a real browser: every assignment has its URL; clicks in a row, Back and
Forward, a reload and a second tab all show what the URL says; Submit goes to the assignment on the page. And every
page of every role opens by its URL, with no "page not found"."""

from __future__ import annotations

import random
import re
import uuid

import pytest
from playwright.sync_api import expect

from dashboard.routing import ROLE_PAGES
from gradeflow.launch.seed_course import COURSE
from gradeflow.launch.seed_languages import LANGUAGE_COURSE
from tests.browser.conftest import save_readme_screenshot, sign_in
from tests.conftest import Stack

pytestmark = pytest.mark.integration


def open_in_sidebar(page, assignment: dict) -> None:
    page.get_by_test_id("stSidebar").get_by_text(
        re.compile(rf"{assignment['order']}\. {re.escape(assignment['title'])}$")
    ).click()


def shows(page, assignment: dict) -> None:
    """The page shows this assignment, and its URL names it."""
    expect(page.get_by_role("heading", name=assignment["title"], exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"[?&]assignment={re.escape(assignment['slug'])}(&|$)"))
    expect(page.get_by_role("button", name=f"Submit to “{assignment['title']}”")).to_be_visible()


def test_a_student_clicks_through_the_course_and_every_view_follows_the_url(
    stack: Stack, dashboard_url: str, new_page
):
    token = stack.new_user()
    with stack.client(token) as c:
        course = c.get("/assignments").json()
    assert [a["slug"] for a in course] == [s.slug for s in COURSE + LANGUAGE_COURSE]
    page = new_page()
    sign_in(page, dashboard_url, token)
    shows(page, course[0])  # nothing solved: the first assignment

    for assignment in course:  # in order
        open_in_sidebar(page, assignment)
        shows(page, assignment)
    rng = random.Random(20261203)
    visited = []
    for assignment in rng.sample(course, 6):  # at random, each click right after the last
        open_in_sidebar(page, assignment)
        visited.append(assignment)
    shows(page, visited[-1])
    page.go_back()
    shows(page, visited[-2])
    page.go_back()
    shows(page, visited[-3])
    page.go_forward()
    shows(page, visited[-2])
    page.reload()
    shows(page, visited[-2])

    # A link opened in a second tab shows its assignment; the first tab stays where it was
    other = page.context.new_page()
    linked = course[3]
    other.goto(f"{dashboard_url}/learn?assignment={linked['slug']}")
    shows(other, linked)
    page.reload()
    shows(page, visited[-2])

    # Submitting on the third assignment opened in this tab submits to it, and shows its result
    third = course[2]
    for assignment in (course[6], course[8], third):
        open_in_sidebar(other, assignment)
    shows(other, third)
    editor = other.frame_locator("iframe[title*='streamlit_ace']").first.locator(".ace_content")
    editor.click()
    other.keyboard.press("Control+A")
    code = f"# {uuid.uuid4()}\ndef add(a, b):\n    return a + b\n"
    other.keyboard.insert_text(code)
    expect(other.get_by_text(re.compile(rf"^3 lines · {len(code)} characters"))).to_be_visible()
    other.get_by_role("button", name=f"Submit to “{third['title']}”").click()
    expect(other.get_by_text(re.compile(r"Score \d+ / 100"))).to_be_visible()
    shows(other, third)
    with stack.client(token) as c:
        mine = c.get("/me/submissions").json()
    assert [s["assignment_id"] for s in mine] == [third["id"]]


@pytest.mark.parametrize("role", ["student", "instructor", "operator"])
def test_every_page_opens_by_its_url(stack: Stack, dashboard_url: str, new_page, role: str):
    token = {
        "student": stack.new_user(),
        "instructor": stack.tokens["ada"],
        "operator": stack.tokens["otto"],
    }[role]
    page = new_page()
    sign_in(page, dashboard_url, token)
    for spec in ROLE_PAGES[role]:
        page.goto(f"{dashboard_url}/{spec.url_path}")
        expect(page).to_have_url(re.compile(rf"/{spec.url_path}(\?|$)"))
        title = "Hello" if role == "student" else spec.title  # the student's page is the assignment
        expect(page.get_by_role("heading", name=re.compile(rf"^{title}\b"))).to_be_visible()
        expect(page.get_by_text("Page not found")).to_have_count(0)
        expect(page.get_by_role("link", name=spec.title)).to_be_visible()  # in the sidebar
        # The page has finished running
        expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
        # Docs/screenshots/ (make screenshots)
        save_readme_screenshot(page, f"page-{role}-{spec.url_path}")


def test_the_dashboard_relays_a_submissions_events_to_whoever_may_see_it(
    stack: Stack, dashboard_url: str
):
    """The page's follower listens on the dashboard's own origin, signed in by the cookie; the API decides who
    may see what."""
    import httpx

    from dashboard.session import COOKIE, EVENTS_PATH
    from tests.integration.test_submission_path import RIGHT_HELLO, submit, unique

    owner, other = stack.new_user(), stack.new_user()
    sub = submit(stack, owner, unique(RIGHT_HELLO)).json()
    stack.wait_graded(owner, sub["id"])
    url = f"{dashboard_url}/{EVENTS_PATH}/{sub['id']}"

    def signed_in(token: str | None) -> httpx.Client:
        return httpx.Client(timeout=30, cookies={COOKIE: token} if token else None)

    with signed_in(owner) as c, c.stream("GET", url) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert '"status":"graded"' in lines[-1] and sub["id"] in lines[-1]
    with signed_in(other) as c:
        assert c.get(url).status_code == 404  # not theirs
    with signed_in(None) as c:
        assert c.get(url).status_code == 401  # not signed in
    with signed_in(owner) as c:
        assert c.get(f"{dashboard_url}/{EVENTS_PATH}/nonsense").status_code == 404
