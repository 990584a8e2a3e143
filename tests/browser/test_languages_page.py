"""A C assignment on the dashboard, as a student meets it: the editor highlights C, a compile error is shown as
one (with the compiler's line, and no attempt used), then a right program passes."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.conftest import Stack
from tests.integration.test_courses import course, set_terms
from tests.sandbox.programs import PROGRAMS, SUM_CASES, needs

pytestmark = pytest.mark.integration


def type_code(page, code: str) -> None:
    """Replace the editor's text, and wait until the page has it (the count under the editor says so)."""
    editor = page.frame_locator("iframe[title*='streamlit_ace']").first.locator(".ace_content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(code)
    expect(page.get_by_text(re.compile(rf" · {len(code)} characters · limit"))).to_be_visible()


def test_a_student_solves_the_c_sum_after_a_compile_error(
    stack: Stack, dashboard_url: str, new_page
):
    needs("c")
    slug, teacher, [(_, student)] = course(stack)
    title = f"Sum in C {uuid.uuid4().hex[:6]}"
    with stack.client(teacher) as c:
        created = c.post(
            "/assignments",
            json={
                "title": title,
                "language": "c",
                "io_cases": SUM_CASES,
                "reference_solution": PROGRAMS["c"]["right"],
                "order": 1000,
            },
        )
    assert created.status_code == 201, created.text
    assignment = created.json()
    set_terms(stack, teacher, slug, assignment["id"], max_submissions=2)

    page = new_page()
    sign_in(page, dashboard_url, student)
    page.goto(f"{dashboard_url}/learn?assignment={assignment['slug']}")
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    ace = page.frame_locator("iframe[title*='streamlit_ace']").first
    # The starter is C, highlighted as C: `int` is a type there (in Python it would be a builtin function)
    expect(ace.locator(".ace_storage.ace_type", has_text="int").first).to_be_visible()

    type_code(page, f"/* {uuid.uuid4()} */\n" + PROGRAMS["c"]["compile_error"])
    page.get_by_role("button", name=f"Submit to “{title}”").click()
    expect(page.get_by_text("Your code does not compile")).to_be_visible()
    expect(page.get_by_text(re.compile(r"solution\.c:\d+:\d+: error")).first).to_be_visible()
    expect(page.get_by_text("2 submissions left")).to_be_visible()

    type_code(page, f"/* {uuid.uuid4()} */\n" + PROGRAMS["c"]["right"])
    page.get_by_role("button", name=f"Submit to “{title}”").click()
    expect(page.get_by_text(re.compile(r"Score 100 / 100"))).to_be_visible()
    page.reload()
    expect(page.get_by_text("1 submissions left")).to_be_visible()


def fill_text_area(page, label: str, text: str) -> None:
    """Type into a text area as a person does, then leave it (Streamlit takes the value on blur)."""
    box = page.get_by_role("textbox", name=label, exact=True)
    box.fill(text)
    box.press("Tab")
    expect(box).to_have_value(text)


def test_an_instructor_creates_a_java_assignment_whose_reference_must_pass_before_save(
    stack: Stack, dashboard_url: str, new_page
):
    needs("java")
    slug, teacher, [(_, student)] = course(stack)
    title = f"Sum in Java {uuid.uuid4().hex[:6]}"
    page = new_page()
    sign_in(page, dashboard_url, teacher)
    page.get_by_role("link", name="Assignments").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Language").click()
    page.get_by_role("option", name=re.compile(r"^Java 17")).click()
    expect(page.get_by_role("textbox", name="The student's public class")).to_have_value("Main")
    page.get_by_role("textbox", name="Title").fill(title)
    page.get_by_role("textbox", name="Title").press("Enter")
    fill_text_area(
        page, "I/O cases (JSON list of {stdin, stdout, points, hidden})", json.dumps(SUM_CASES)
    )
    save = page.get_by_role("button", name="Save")
    expect(save).to_be_disabled()

    # A reference solution that does not compile: the check says so with javac's line, and Save stays shut
    fill_text_area(page, "Reference solution", PROGRAMS["java"]["compile_error"])
    page.get_by_role("button", name="Check the reference solution").click()
    expect(
        page.get_by_text("The reference solution (with the driver) does not compile:")
    ).to_be_visible()
    expect(page.get_by_text(re.compile(r"Main\.java:3: error")).first).to_be_visible()
    expect(save).to_be_disabled()

    # One that compiles but answers wrong: each case is named, still no Save
    fill_text_area(page, "Reference solution", PROGRAMS["java"]["wrong"])
    page.get_by_role("button", name="Check the reference solution").click()
    expect(page.get_by_text(re.compile(r"^The reference solution does not pass"))).to_be_visible()
    expect(page.get_by_text("io_case_1").first).to_be_visible()
    expect(save).to_be_disabled()

    # The right one passes, Save opens, and the assignment exists in Java
    fill_text_area(page, "Reference solution", PROGRAMS["java"]["right"])
    page.get_by_role("button", name="Check the reference solution").click()
    expect(page.get_by_text("The reference solution passes these tests.")).to_be_visible()
    expect(save).to_be_enabled()
    save.click()
    expect(page.get_by_text(re.compile(rf"^Saved “{re.escape(title)}”"))).to_be_visible()
    with stack.client(teacher) as c:
        saved = [a for a in c.get("/assignments").json() if a["title"] == title]
    assert len(saved) == 1, saved
    assert saved[0]["language"] == "java"
    assert [(c["stdin"], c["stdout"], c["points"]) for c in saved[0]["io_cases"]] == [
        (c["stdin"], c["stdout"], c.get("points", 1)) for c in SUM_CASES
    ]

    # Its student opens it by its link: a Java editor with the Java starter
    other = new_page()
    sign_in(other, dashboard_url, student)
    other.goto(f"{dashboard_url}/learn?assignment={saved[0]['slug']}")
    expect(other.get_by_role("heading", name=title, exact=True)).to_be_visible()
    ace = other.frame_locator("iframe[title*='streamlit_ace']").first
    expect(ace.locator(".ace_content", has_text="public class Main")).to_be_visible()
