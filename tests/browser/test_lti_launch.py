"""An LMS launches people into the dashboard, in a real browser: an instructor adds GradeFlow to a course and picks
an assignment; a student opening that link lands on it signed in (nothing to paste), submits, stays signed in on
reload, and the LMS's grade column gets the score; a forged launch shows why it was refused and signs no one in."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_languages_page import type_code
from tests.conftest import Stack, wait_for
from tests.integration.test_lti import deep_link, register
from tests.integration.test_submission_path import RIGHT_HELLO
from tests.lti.lms import Lms

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lms(stack: Stack) -> Iterator[Lms]:
    platform = Lms(client_id="browser-client").start()
    register(stack, platform, f"browser-lms-{uuid.uuid4().hex[:6]}")
    yield platform
    platform.stop()


def test_an_lms_link_lands_a_student_signed_in_on_its_assignment_and_the_grade_goes_back(
    stack: Stack, dashboard_url: str, new_page, lms: Lms
):
    course = f"web-{uuid.uuid4().hex[:6]}"
    # The instructor adds GradeFlow in the LMS and picks the assignment the link opens
    page = new_page()
    page.goto(
        lms.prepare(lms.person("wendy", instructor=True), course, message="LtiDeepLinkingRequest")
    )
    expect(
        page.get_by_role("heading", name=f"Link an assignment of Course {course}")
    ).to_be_visible()
    page.get_by_role("button", name="Hello", exact=True).click()
    expect(page.get_by_text("Link added")).to_be_visible()
    expect(page.locator("p.link")).to_have_text("Hello")
    made = lms.made_links[0]
    item = next(
        f"{lms.url}/courses/{course}/lineitems/{i}"
        for i, it in lms.line_items.items()
        if it["resourceLinkId"] == made["link"]
    )

    # A student follows the link: no token to paste, straight onto the assignment
    student = lms.person("walt")
    page = new_page()
    page.goto(lms.prepare(student, course, link=made["link"], custom=made["custom"]))
    expect(page.get_by_role("heading", name="Hello", exact=True)).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_be_visible()
    assert "assignment=hello" in page.url
    type_code(page, f"# {uuid.uuid4()}\n{RIGHT_HELLO}")
    page.get_by_role("button", name="Submit to “Hello”").click()
    expect(page.get_by_text(re.compile(r"Score 100 / 100"))).to_be_visible()
    page.reload()
    expect(page.get_by_text("Signed in as")).to_be_visible()
    expect(page.get_by_role("heading", name="Hello", exact=True)).to_be_visible()
    wait_for(
        lambda: (lms.score_of(item, student.sub) or {}).get("scoreGiven") == 100,
        60,
        "the LMS's grade column to get the score",
    )


def test_a_forged_launch_shows_why_and_signs_no_one_in(
    stack: Stack, dashboard_url: str, new_page, lms: Lms
):
    page = new_page()
    expired = {"claims": {"exp": int(time.time()) - 60, "iat": int(time.time()) - 400}}
    page.goto(lms.prepare(lms.person("eve"), f"web-{uuid.uuid4().hex[:6]}", tamper=expired))
    expect(page.get_by_role("heading", name="GradeFlow could not sign you in")).to_be_visible()
    expect(page.locator("#problem")).to_have_text(re.compile("has expired"))
    page.goto(dashboard_url)
    # Not signed in: the dashboard asks for a sign-in
    expect(page.get_by_text("Sign in with your API token")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    # A landing link used twice (or made up) says to open the LMS link again
    page.goto(f"{dashboard_url}/gradeflow/lti?code=made-up")
    expect(page.get_by_text("This sign-in link was used already or has expired")).to_be_visible()


def test_the_operator_sees_the_urls_to_give_an_lms_and_grades_on_their_way(
    stack: Stack, dashboard_url: str, new_page, lms: Lms
):
    page = new_page()
    sign_in(page, dashboard_url, stack.tokens["otto"])
    page.get_by_role("link", name="LMS").click()
    expect(page.get_by_role("heading", name="LMS (LTI 1.3)")).to_be_visible()
    expect(page.get_by_text(f"{stack.api_url}/lti/login")).to_be_visible()
    expect(page.get_by_text(f"{stack.api_url}/lti/jwks")).to_be_visible()
    expect(page.get_by_text(lms.issuer, exact=True).first).to_be_visible()
    expect(page.get_by_text("Waiting to be sent")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="LMS (LTI 1.3)")).to_be_visible()
    assert page.url.endswith("/lms")


def test_an_instructor_from_the_lms_previews_then_syncs_the_roster(
    stack: Stack, dashboard_url: str, new_page, lms: Lms
):
    course = f"web-roster-{uuid.uuid4().hex[:6]}"
    teacher = lms.person("rosa", instructor=True)
    made = deep_link(stack, lms, teacher, course, "Hello")
    newcomer = lms.person("noor")
    lms.members = [teacher, newcomer]
    page = new_page()
    page.goto(lms.prepare(teacher, course, link=made["link"], custom=made["custom"]))
    expect(page.get_by_role("heading", name="Cohort", exact=True)).to_be_visible()
    page.get_by_text("LMS roster").click()
    page.get_by_role("button", name="Preview the sync").click()
    expect(page.get_by_text("Would add: noor (student)")).to_be_visible()
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_text("Synced: 1 added, 0 dropped.")).to_be_visible()
    page.reload()
    page.get_by_text("LMS roster").click()
    page.get_by_role("button", name="Preview the sync").click()
    expect(page.get_by_text("The cohort matches its LMS course (2 people).")).to_be_visible()
