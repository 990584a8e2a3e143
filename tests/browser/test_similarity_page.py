"""The similarity page in a real browser (issue #13, acceptance 5): an instructor starts a report, watches it
finish, opens the top pair side by side and sees the shared fragments highlighted."""

from __future__ import annotations

import random

import pytest
from playwright.sync_api import expect

from gradeflow.launch.synthetic import disguise
from tests.browser.conftest import save_readme_screenshot, sign_in
from tests.conftest import Stack
from tests.integration.test_similarity import seed, teach_new_assignment
from tests.similarity_samples import INDEPENDENT, ORIGINAL, RENAMED, STARTER

pytestmark = pytest.mark.integration


def test_an_instructor_finds_the_copied_pair_and_sees_its_fragments(
    stack: Stack, dashboard_url: str, new_page
):
    slug, teacher, assignment = teach_new_assignment(stack, STARTER)
    codes = [
        STARTER + c for c in [ORIGINAL, RENAMED, disguise(ORIGINAL, random.Random(2)), *INDEPENDENT]
    ]
    names = seed(stack, slug, assignment, codes)
    with stack.client(teacher) as c:
        title = c.get(f"/assignments/{assignment}").json()["title"]

    page = new_page()
    sign_in(page, dashboard_url, teacher)
    page.get_by_role("link", name="Similarity").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Assignment").click()
    page.get_by_role("option", name=title).click()
    expect(page.get_by_text("No report for this assignment yet.")).to_be_visible()
    page.get_by_role("button", name="Start a similarity report").click()
    expect(page.get_by_text(f"{len(codes)} students compared")).to_be_visible(timeout=60_000)

    top = page.get_by_role("heading", name="% similar")
    expect(top).to_be_visible()
    heading = top.inner_text()
    assert sum(name in heading for name in names[:3]) == 2, heading  # two of the copies
    shared = page.locator('[data-shared="1"]')
    expect(shared.first).to_be_visible()
    assert shared.count() >= 10, "the shared fragments are marked on both sides"
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()

    page.get_by_text("Flag", exact=True).click()
    page.get_by_label("Note").fill("same structure")
    page.get_by_role("button", name="Save the review").click()
    expect(page.get_by_text("Saved: flagged.")).to_be_visible()
    top.scroll_into_view_if_needed()
    save_readme_screenshot(page, "instructor-similarity")
