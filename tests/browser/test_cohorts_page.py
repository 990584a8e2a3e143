"""Two courses on one deployment, in a real browser: someone who teaches two cohorts picks one and the choice
holds across a reload, other pages and a second tab; an assignment shared with another cohort is
read-only and Copy makes it theirs."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from gradeflow.accounts import add_cohort
from tests.browser.conftest import sign_in
from tests.conftest import Stack

pytestmark = pytest.mark.integration


def enroll(stack: Stack, token: str, slug: str) -> None:
    from gradeflow.tokens import hash_token

    stack.sql_write(
        "INSERT INTO enrollments (user_id, cohort_id) SELECT u.id, c.id FROM users u, cohorts c "
        "WHERE u.token_hash = :h AND c.slug = :slug",
        h=hash_token(token),
        slug=slug,
    )


def test_the_chosen_cohort_holds_across_reload_tabs_and_links(
    stack: Stack, dashboard_url: str, new_page
):
    first, second = (f"{name}-{uuid.uuid4().hex[:6]}" for name in ("aaa", "zzz"))
    for slug in (first, second):
        stack.db(lambda session, slug=slug: add_cohort(session, slug))
    teacher = stack.new_user(role="instructor", cohort=first)
    enroll(stack, teacher, second)
    stack.new_user(cohort=second)  # one student in the second cohort only
    page = new_page()
    sign_in(page, dashboard_url, teacher)
    page.get_by_role("link", name="Cohort").click()
    expect(page.get_by_text(f"Cohort {first} · choose another in the sidebar")).to_be_visible()
    expect(page.get_by_text("No students in this cohort yet.")).to_be_visible()

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Cohort").click()
    page.get_by_role("option", name=second).click()
    expect(page.get_by_text(f"Cohort {second} · choose another in the sidebar")).to_be_visible()
    expect(page.get_by_text("No students in this cohort yet.")).to_have_count(0)
    # Other pages follow the same choice
    page.get_by_role("link", name="Dates").click()
    expect(page.get_by_text(f"Cohort {second} · choose another in the sidebar")).to_be_visible()

    page.reload()
    expect(page.get_by_text(f"Cohort {second} · choose another in the sidebar")).to_be_visible()
    other_tab = page.context.new_page()  # a second tab, signed in by the same cookie
    other_tab.goto(dashboard_url)
    expect(
        other_tab.get_by_text(f"Cohort {second} · choose another in the sidebar")
    ).to_be_visible()
    # and back to the first one, several clicks in a row
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Cohort").click()
    page.get_by_role("option", name=first).click()
    expect(page.get_by_text(f"Cohort {first} · choose another in the sidebar")).to_be_visible()
    page.get_by_role("link", name="Cohort").click()
    expect(page.get_by_text("No students in this cohort yet.")).to_be_visible()
    page.reload()
    expect(page.get_by_text(f"Cohort {first} · choose another in the sidebar")).to_be_visible()


def test_a_cohort_page_opens_by_its_link_and_back_returns_to_the_cohort_before(
    stack: Stack, dashboard_url: str, new_page
):
    first, second = (f"{name}-{uuid.uuid4().hex[:6]}" for name in ("aaa", "zzz"))
    for slug in (first, second):
        stack.db(lambda session, slug=slug: add_cohort(session, slug))
    teacher = stack.new_user(role="instructor", cohort=first)
    enroll(stack, teacher, second)
    stack.new_user(cohort=second)  # one student in the second cohort only
    page = new_page()
    sign_in(page, dashboard_url, teacher)
    page.get_by_role("link", name="Cohort").click()
    expect(page.get_by_text(f"Cohort {first} · choose another in the sidebar")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/cohort\?(.*&)?cohort={first}"))

    # A colleague's link to the second cohort's page, opened directly
    page.goto(f"{dashboard_url}/cohort?cohort={second}")
    expect(page.get_by_text(f"Cohort {second} · choose another in the sidebar")).to_be_visible()
    expect(page.get_by_text("No students in this cohort yet.")).to_have_count(0)
    expect(page.get_by_role("combobox", name="Cohort")).to_have_value(second)
    page.go_back()
    expect(page.get_by_text(f"Cohort {first} · choose another in the sidebar")).to_be_visible()
    expect(page.get_by_text("No students in this cohort yet.")).to_be_visible()
    page.go_forward()
    expect(page.get_by_text(f"Cohort {second} · choose another in the sidebar")).to_be_visible()
    page.reload()
    expect(page.get_by_text(f"Cohort {second} · choose another in the sidebar")).to_be_visible()
    # The link's cohort is remembered: a page opened without one opens there
    fresh = page.context.new_page()
    fresh.goto(f"{dashboard_url}/dates")
    expect(fresh.get_by_text(f"Cohort {second} · choose another in the sidebar")).to_be_visible()
    # The assignment chosen on the Dates page holds across another page, a reload and its link
    choice = fresh.get_by_role("combobox", name="Assignment")
    expect(fresh).to_have_url(re.compile(r"[?&]assignment=\d+"))
    before = fresh.url
    choice.click()
    fresh.get_by_role("option", name=re.compile(r"^Sum\b(?! in )")).click()
    expect(choice).to_have_value(re.compile(r"^Sum\b(?! in )"))
    expect(fresh).not_to_have_url(before)  # the URL names the new choice
    linked = fresh.url
    fresh.get_by_role("link", name="Cohort").click()
    expect(fresh.get_by_text(f"Cohort {second} · choose another in the sidebar")).to_be_visible()
    fresh.get_by_role("link", name="Dates").click()
    expect(choice).to_have_value(re.compile(r"^Sum\b(?! in )"))
    fresh.reload()
    expect(choice).to_have_value(re.compile(r"^Sum\b(?! in )"))
    page.goto(linked)
    expect(page.get_by_role("combobox", name="Assignment")).to_have_value(
        re.compile(r"^Sum\b(?! in )")
    )

    # A link to a cohort they do not teach says so and shows theirs
    fresh.goto(f"{dashboard_url}/cohort?cohort=not-{first}")
    expect(fresh.get_by_text(f"You are not in the cohort “not-{first}”")).to_be_visible()
    expect(fresh.get_by_text(f"Cohort {second} · choose another in the sidebar")).to_be_visible()


def test_a_shared_assignment_is_read_only_and_copy_makes_it_yours(
    stack: Stack, dashboard_url: str, new_page
):
    slug = f"copy-{uuid.uuid4().hex[:6]}"
    stack.db(lambda session: add_cohort(session, slug))  # offered the whole demo course
    teacher = stack.new_user(role="instructor", cohort=slug)
    page = new_page()
    sign_in(page, dashboard_url, teacher)
    page.get_by_role("link", name="Assignments").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Edit").click()
    page.get_by_role("option", name=re.compile(r"^10\. Prime sieve \(read-only\)$")).click()
    expect(page.get_by_text("is also offered to cohorts you do not teach")).to_be_visible()
    expect(page.get_by_role("textbox", name="Title")).to_have_count(0)

    page.get_by_role("button", name=f"Copy into {slug}").click()
    expect(page.get_by_text(re.compile(rf"^Copied into {slug} as “Prime sieve”"))).to_be_visible()
    expect(page.get_by_role("textbox", name="Title")).to_have_value("Prime sieve")
    with stack.client(teacher) as c:
        mine = {
            o["assignment_id"]: o["title"] for o in c.get(f"/cohorts/{slug}/assignments").json()
        }
        copies = [a for a in c.get("/assignments").json() if a["slug"].endswith(f"-{slug}")]
    assert len(copies) == 1 and copies[0]["may_edit"] is True
    assert copies[0]["id"] in mine and 10 not in mine  # it took the original's place in the cohort
    page.reload()
    page.get_by_test_id("stSelectbox").filter(has_text="Edit").click()
    expect(page.get_by_role("option", name=f"10. Prime sieve · primes-{slug}")).to_have_count(1)
