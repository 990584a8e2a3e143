"""A C assignment on the dashboard, as a student meets it: the editor highlights C, a compile error is shown as
one (with the compiler's line, and no attempt used), then a right program passes."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from gradeflow import languages
from tests.browser.conftest import sign_in
from tests.conftest import Stack
from tests.integration.test_courses import course, set_terms
from tests.sandbox.programs import PROGRAMS, SUM_CASES

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
    if "c" in languages.missing():
        pytest.skip(f"c: {languages.missing()['c']}")
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
