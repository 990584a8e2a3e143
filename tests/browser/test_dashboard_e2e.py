"""The dashboard in a real browser against the whole stack (issue #5, acceptance 1 and 4)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import save_readme_screenshot, sign_in
from tests.conftest import Stack
from tests.integration.test_submission_path import RIGHT_HELLO, submit, unique

pytestmark = pytest.mark.integration


def type_code(page, code: str) -> None:
    editor = page.frame_locator("iframe[title*='streamlit_ace']").first.locator(".ace_content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(code)
    # The editor sends its text to the app on its own; wait until the app has it.
    expect(
        page.get_by_text(f"{len(code.splitlines())} lines · {len(code)} characters")
    ).to_be_visible()


def test_student_fails_then_passes_then_continues_where_they_left_off(
    stack: Stack, dashboard_url: str, new_page
):
    token = stack.new_user()
    page = new_page()
    sign_in(page, dashboard_url, token)
    expect(page.get_by_role("heading", name="Hello", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stMetricValue")).to_have_text("0")

    type_code(page, f"# {uuid.uuid4()}\ndef hello():\n    return 'Hi'\n")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Not yet: some tests failed.")).to_be_visible()
    expect(page.get_by_text("'Hi' != 'Hello'")).to_be_visible()

    right = f"# {uuid.uuid4()}\ndef hello():\n    return 'Hello'\n"
    type_code(page, right)
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Correct: every test passed.")).to_be_visible()
    expect(page.get_by_test_id("stMetricValue")).to_have_text("100")
    expect(page.get_by_text(re.compile(r"^1 of \d+ solved$"))).to_be_visible()
    save_readme_screenshot(page, "student")
    page.get_by_role("button", name="Next assignment").click()
    expect(page.get_by_role("heading", name="Hello world", exact=True)).to_be_visible()

    again = new_page()
    sign_in(again, dashboard_url, token)
    expect(again.get_by_role("heading", name="Hello world", exact=True)).to_be_visible()
    expect(again.get_by_test_id("stMetricValue")).to_have_text("100")
    # Back at a solved assignment, the editor holds the student's latest submission.
    again.get_by_test_id("stSidebar").get_by_text("1. Hello", exact=False).first.click()
    expect(again.get_by_role("heading", name="Hello", exact=True)).to_be_visible()
    editor = again.frame_locator("iframe[title*='streamlit_ace']").first.locator(".ace_content")
    expect(editor).to_contain_text(right.splitlines()[0])


def test_instructor_starts_a_regrade_and_watches_it_reach_100_percent(
    stack: Stack, dashboard_url: str, new_page
):
    student = stack.new_user()
    stack.wait_graded(student, submit(stack, student, unique(RIGHT_HELLO)).json()["id"])
    page = new_page()
    sign_in(page, dashboard_url, stack.tokens["ada"])
    expect(page.get_by_role("heading", name="Score distribution")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()  # the students x assignments matrix
    expect(page.get_by_test_id("stVegaLiteChart").locator("canvas, svg").first).to_be_visible()
    save_readme_screenshot(page, "instructor")
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Download the canvas gradebook").click()
    download = downloading.value
    assert download.suggested_filename == "demo-gradebook-canvas.csv"
    header, points = Path(download.path()).read_text().splitlines()[:2]
    assert header.startswith("Student,ID,SIS User ID,SIS Login ID,Section,Hello (1),")
    assert points.startswith("Points Possible,,,,,")
    page.get_by_role("link", name="Regrades").click()
    page.get_by_role("button", name="Start regrade").click()
    expect(page.get_by_text(re.compile(r"^100% · \d+ of \d+ · done$"))).to_be_visible(
        timeout=120_000
    )
    expect(page.get_by_role("heading", name=re.compile(r"Changed scores"))).to_be_visible()
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    save_readme_screenshot(page, "instructor-regrade")


def test_operator_opens_a_submissions_workflow_history(stack: Stack, dashboard_url: str, new_page):
    student = stack.new_user()
    sub = submit(stack, student, unique(RIGHT_HELLO)).json()
    stack.wait_graded(student, sub["id"])
    page = new_page()
    sign_in(page, dashboard_url, stack.tokens["otto"])
    page.get_by_label("Submission id").fill(sub["id"])
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", name="GradeSubmission · completed")).to_be_visible()
    timeline = page.get_by_test_id("stTable")
    expect(timeline.get_by_text("grade_submission").first).to_be_visible()
    expect(timeline.get_by_text("record_grading").first).to_be_visible()
    expect(page.get_by_role("link", name="Open in the Temporal Web UI")).to_have_attribute(
        "href", re.compile(rf"/workflows/grade-{sub['id']}/")
    )
    save_readme_screenshot(page, "operator")
    # The URL names the workflow: a colleague who opens the link sees the same history
    expect(page).to_have_url(re.compile(rf"/workflows\?workflow=grade-{sub['id']}$"))
    colleague = new_page()
    sign_in(colleague, dashboard_url, stack.tokens["otto"])
    colleague.goto(page.url)
    expect(colleague.get_by_role("heading", name="GradeSubmission · completed")).to_be_visible()
    expect(colleague.get_by_test_id("stTable").get_by_text("record_grading").first).to_be_visible()


def test_operator_retries_a_grading_that_ended_in_error(stack: Stack, dashboard_url: str, new_page):
    from sqlalchemy import update

    from gradeflow.models import Submission

    student = stack.new_user()
    sub = submit(stack, student, unique(RIGHT_HELLO)).json()
    stack.wait_graded(student, sub["id"])
    stack.db(
        lambda s: s.execute(
            update(Submission)
            .where(Submission.id == uuid.UUID(sub["id"]))
            .values(status="error", error="sandbox host lost (simulated)")
        )
    )
    page = new_page()
    sign_in(page, dashboard_url, stack.tokens["otto"])
    page.get_by_role("link", name="Failed and stuck").click()
    expect(page.get_by_text("sandbox host lost (simulated)")).to_be_visible()
    page.locator(f".st-key-retry-submission-{sub['id']} button").click()
    expect(
        page.get_by_text(re.compile(rf"^Retry: grade-{sub['id']} is now (running|completed)\.$"))
    ).to_be_visible()
    graded = stack.wait_graded(student, sub["id"])
    assert (graded["status"], graded["passed"]) == ("graded", True)


def test_instructor_sets_a_due_date_and_an_extension_and_a_late_student_sees_the_cap(
    stack: Stack, dashboard_url: str, new_page
):
    from datetime import UTC, datetime, timedelta

    from gradeflow.accounts import add_cohort

    slug = f"dates-{uuid.uuid4().hex[:6]}"
    stack.db(lambda session: add_cohort(session, slug))
    teacher = stack.new_user(role="instructor", cohort=slug)
    from gradeflow.tokens import hash_token

    tokens = [stack.new_user(cohort=slug) for _ in range(2)]
    named = sorted(
        (stack.sql("SELECT name FROM users WHERE token_hash = :h", h=hash_token(t))[0][0], t)
        for t in tokens
    )
    # The extension form offers the cohort's students by name: the first is chosen.
    (extended_name, extended_student), (late_name, late_student) = named
    yesterday = datetime.now(UTC) - timedelta(days=1)

    page = new_page()
    sign_in(page, dashboard_url, teacher)
    page.get_by_role("link", name="Dates").click()
    # The cohort is offered the whole course, other tests' assignments too: Hello, by name
    page.get_by_test_id("stSelectbox").filter(has_text="Assignment").click()
    page.get_by_role("option", name="Hello", exact=True).click()
    page.get_by_text("Due", exact=True).click()  # the "Due" box: the assignment gets a due date
    for part, value in (
        ("year", yesterday.year),
        ("month", yesterday.month),
        ("day", yesterday.day),
    ):
        segment = page.get_by_role("spinbutton", name=f"{part}, Due: day (UTC)")
        segment.click()
        page.keyboard.type(f"{value:02d}")
    page.get_by_role("textbox", name="Late windows").click()  # leaves the date: the app gets it
    page.get_by_role("textbox", name="Late windows").fill("48h=50%")
    page.get_by_role("textbox", name="Late windows").press("Enter")
    page.get_by_role("button", name="Save dates").click()
    expect(page.get_by_text(re.compile(r"^Saved: version \d+ of these terms"))).to_be_visible()
    page.get_by_label("Reason").fill("was ill")
    page.get_by_role("button", name="Grant the extension").click()
    expect(
        page.get_by_text(re.compile(rf"^{re.escape(extended_name)} is now due "))
    ).to_be_visible()

    student = new_page()
    sign_in(student, dashboard_url, late_student)
    # The cohort is offered the whole course (other tests' assignments too): Hello by its URL
    student.goto(f"{dashboard_url}/learn?assignment=hello")
    expect(student.get_by_text(re.compile(r"due \d{4}-\d\d-\d\d \d\d:\d\d UTC"))).to_be_visible()
    expect(
        student.get_by_text("Submitting now is late: late, within 48 h: 50% credit.")
    ).to_be_visible()
    type_code(student, f"# {uuid.uuid4()}\ndef hello():\n    return 'Hello'\n")
    student.get_by_role("button", name="Submit").click()
    expect(
        student.get_by_text(re.compile(r"Correct: every test passed\. Score 50 / 100"))
    ).to_be_visible()
    expect(
        student.get_by_text("Submitted after the due date (late, within 48 h: 50% credit).")
    ).to_be_visible()
    # A reload keeps the student signed in (the dashboard's http-only cookie).
    student.reload()
    expect(student.get_by_text("Signed in as")).to_be_visible()
    expect(student.get_by_role("link", name="Sign in")).to_have_count(0)

    extended = new_page()
    sign_in(extended, dashboard_url, extended_student)
    extended.goto(f"{dashboard_url}/learn?assignment=hello")
    expect(extended.get_by_text(re.compile(r"· your extension"))).to_be_visible()

    # The instructor's cohort page counts the late work (the extended student's is not due yet: not missing).
    page.get_by_role("link", name="Cohort").click()
    metric = page.get_by_test_id("stMetric")
    expect(metric.filter(has_text="Turned in late").get_by_test_id("stMetricValue")).to_have_text(
        "1"
    )
    expect(metric.filter(has_text="Missing work").get_by_test_id("stMetricValue")).to_have_text("0")

    # An extension for the late student recounts their grade (no code run again): the ledger shows it.
    page.get_by_role("link", name="Dates").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Assignment").click()
    page.get_by_role("option", name=re.compile(r"^Hello · due ")).click()
    page.get_by_test_id("stSelectbox").filter(has_text="Student").click()
    page.get_by_role("option", name=late_name).click()
    page.get_by_label("Reason").fill("missed the bus")
    page.get_by_role("button", name="Grant the extension").click()
    changes = page.get_by_test_id("stExpander").filter(has_text="(missed the bus): 1 changed")
    changes.click()
    expect(changes.get_by_text("50% → 100%")).to_be_attached()  # the grid draws on a canvas
    changes.scroll_into_view_if_needed()
    save_readme_screenshot(page, "instructor-recount")
