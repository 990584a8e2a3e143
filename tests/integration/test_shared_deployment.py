"""Courses that hold when a second course shares the deployment: an assignment's content belongs to the staff who
teach every cohort it is offered to (anyone else copies it); no field is cleared by leaving it out; people join
and leave cohorts through the API and the CLI; extensions and names follow one rule."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gradeflow.accounts import add_cohort
from gradeflow.tokens import hash_token
from tests.conftest import Stack, wait_for

pytestmark = pytest.mark.integration

MERGE_PATCH = {"content-type": "application/merge-patch+json"}
PRIME_SIEVE = 10  # the demo course's last assignment
IO_HELLO = [{"stdin": "", "stdout": "Hello\n"}]


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def new_cohort(stack: Stack, offer_course: bool) -> tuple[str, str]:
    """A new cohort (offered the whole course, or nothing) and a new instructor of it."""
    slug = f"c-{uuid.uuid4().hex[:8]}"
    stack.db(lambda session: add_cohort(session, slug, offer_course=offer_course))
    return slug, stack.new_user(role="instructor", cohort=slug)


def name_of(stack: Stack, token: str) -> str:
    return stack.sql("SELECT name FROM users WHERE token_hash = :h", h=hash_token(token))[0][0]


def offered(stack: Stack, token: str, slug: str) -> list[int]:
    with stack.client(token) as c:
        r = c.get(f"/cohorts/{slug}/assignments")
    assert r.status_code == 200, r.text
    return [o["assignment_id"] for o in r.json()]


def test_only_who_teaches_every_offering_cohort_changes_an_assignment_and_others_copy_it(
    stack: Stack,
):
    a_slug, teacher_a = new_cohort(stack, offer_course=False)
    with stack.client(teacher_a) as c:
        created = c.post(
            "/assignments",
            json={"title": f"Greet {a_slug}", "io_cases": IO_HELLO, "handout": "Print Hello."},
        )
        assert created.status_code == 201, created.text
        mine = created.json()
        assert mine["may_edit"] is True
        # Its author teaches every cohort it is offered to: PUT and PATCH change it as before
        assert c.put(f"/assignments/{mine['id']}", json={"points": 50}).status_code == 200
        patched = c.patch(
            f"/assignments/{mine['id']}",
            content=b'{"handout": "Print Hello, then a newline."}',
            headers=MERGE_PATCH,
        )
        assert patched.status_code == 200, patched.text
        assert (patched.json()["handout"], patched.json()["points"]) == (
            "Print Hello, then a newline.",
            50,
        )
    assert offered(stack, teacher_a, a_slug) == [mine["id"]]

    # A second course arrives: its cohort is offered the whole course, this assignment included.
    b_slug, teacher_b = new_cohort(stack, offer_course=True)
    assert mine["id"] in offered(stack, teacher_b, b_slug)
    hijack = {"title": "Hijacked", "io_cases": [{"stdin": "", "stdout": "pwned\n"}]}
    with stack.client(teacher_b) as c:
        for target in (mine["id"], PRIME_SIEVE):
            before = c.get(f"/assignments/{target}").json()
            assert before["may_edit"] is False
            for method in ("PUT", "PATCH"):
                r = c.request(method, f"/assignments/{target}", json=hijack)
                assert r.status_code == 403, r.text
                assert re.search(r"offered to \d+ cohorts? you do not teach", r.json()["detail"])
                assert f"POST /api/v1/assignments/{target}/copy" in r.json()["detail"]
            after = c.get(f"/assignments/{target}").json()
            assert (after["title"], after["io_cases"], after["test_version"]) == (
                before["title"],
                before["io_cases"],
                before["test_version"],
            )
        # Nor may they share it further, to a cohort of theirs that does not offer it yet
        c_slug = f"c-{uuid.uuid4().hex[:8]}"
        stack.db(lambda session: add_cohort(session, c_slug, offer_course=False))
        stack.sql_write(
            "INSERT INTO enrollments (user_id, cohort_id) SELECT u.id, c.id FROM users u, cohorts c "
            "WHERE u.token_hash = :h AND c.slug = :slug",
            h=hash_token(teacher_b),
            slug=c_slug,
        )
        r = c.put(f"/cohorts/{c_slug}/assignments/{mine['id']}", json={})
        assert r.status_code == 403 and "/copy" in r.json()["detail"], r.text
    # Its author no longer teaches every cohort it is offered to: they may not change it either
    with stack.client(teacher_a) as c:
        assert c.put(f"/assignments/{mine['id']}", json={"points": 60}).status_code == 403

    # The second course's instructor copies it: the copy is theirs, and takes its place in their cohort
    with stack.client(teacher_b) as c:
        r = c.post(f"/assignments/{mine['id']}/copy", json={"cohort": b_slug})
        assert r.status_code == 201, r.text
        copy = r.json()
        assert copy["may_edit"] is True and copy["copied_from"] == mine["id"]
        assert (copy["title"], copy["io_cases"], copy["handout"], copy["points"]) == (
            mine["title"],
            mine["io_cases"],
            "Print Hello, then a newline.",
            50,
        )
        assert copy["slug"] == f"{mine['slug']}-{b_slug}"
        assert (copy["replaced_in"], copy["original_kept_in"]) == ([b_slug], [])
        renamed = c.patch(f"/assignments/{copy['id']}", json={"title": "Greet, our way"})
        assert renamed.status_code == 200, renamed.text
    assert copy["id"] in offered(stack, teacher_b, b_slug)
    assert mine["id"] not in offered(stack, teacher_b, b_slug)
    # The copy is offered to b's cohort only
    assert offered(stack, teacher_a, a_slug) == [mine["id"]]
    # The original is offered to a's cohort alone again: its author changes it as before
    with stack.client(teacher_a) as c:
        assert c.put(f"/assignments/{mine['id']}", json={"points": 60}).status_code == 200
        assert c.get(f"/assignments/{copy['id']}").json()["may_edit"] is False
    # Students of each cohort see their own
    student_b = stack.new_user(cohort=b_slug)
    with stack.client(student_b) as c:
        titles = {a["id"]: a["title"] for a in c.get("/assignments").json()}
    assert titles.get(copy["id"]) == "Greet, our way" and mine["id"] not in titles
    # Operators may change any assignment
    with stack.client(stack.tokens["otto"]) as c:
        r = c.patch(f"/assignments/{mine['id']}", json={"handout": "Print Hello (operator's fix)."})
        assert r.status_code == 200, r.text


def test_a_copy_leaves_the_original_where_students_already_submitted_to_it(stack: Stack):
    b_slug, teacher_b = new_cohort(stack, offer_course=True)
    student = stack.new_user(cohort=b_slug)
    with stack.client(student) as c:
        r = c.post("/assignments/2/submissions", json={"code": f"# {uuid.uuid4()}\nx = 1\n"})
        assert r.status_code in (201, 202), r.text
    with stack.client(teacher_b) as c:
        r = c.post("/assignments/2/copy", json={})
    assert r.status_code == 201, r.text
    assert (r.json()["replaced_in"], r.json()["original_kept_in"]) == ([], [b_slug])
    assert {2, r.json()["id"]} <= set(offered(stack, teacher_b, b_slug))


def test_leaving_a_field_out_keeps_it_and_an_explicit_null_clears_it(stack: Stack):
    slug, teacher = new_cohort(stack, offer_course=True)
    path = f"/cohorts/{slug}/assignments/1"
    due = iso(timedelta(days=7))
    with stack.client(teacher) as c:
        r = c.put(
            path,
            json={
                "due_at": due,
                "late_windows": [{"hours": 24, "credit": 0.5}],
                "release_at": None,
            },
        )
        assert r.status_code == 200, r.text
        version = r.json()["policy_version"]
        r = c.put(path, json={"max_submissions": 5})
        assert r.status_code == 200, r.text
        kept = r.json()
        assert datetime.fromisoformat(kept["due_at"]) == datetime.fromisoformat(due)
        assert kept["late_windows"] == [{"hours": 24.0, "credit": 0.5}]
        assert kept["max_submissions"] == 5 and kept["policy_version"] == version + 1
        r = c.patch(path, content=b'{"min_minutes_between": 3}', headers=MERGE_PATCH)
        assert r.status_code == 200, r.text
        assert (r.json()["max_submissions"], r.json()["min_minutes_between"]) == (5, 3)
        assert r.json()["late_windows"] == [{"hours": 24.0, "credit": 0.5}]
        # Clearing the due date alone would leave late windows counting from nothing
        r = c.patch(path, json={"due_at": None})
        assert r.status_code == 422 and "late_windows need a due_at" in r.json()["detail"]
        r = c.patch(path, json={"due_at": None, "late_windows": None, "max_submissions": None})
        assert r.status_code == 200, r.text
        cleared = r.json()
        assert (cleared["due_at"], cleared["late_windows"], cleared["max_submissions"]) == (
            None,
            [],
            None,
        )
        assert cleared["min_minutes_between"] == 3
        # Nothing to change: nothing changes, not even the version
        assert c.patch(path, json={}).json()["policy_version"] == cleared["policy_version"]

        # An assignment's limits merge field by field
        created = c.post("/assignments", json={"title": f"Limits {slug}", "io_cases": IO_HELLO})
        assert created.status_code == 201, created.text
        limits = created.json()["limits"]
        r = c.patch(f"/assignments/{created.json()['id']}", json={"limits": {"cpu_seconds": 1}})
        assert r.status_code == 200, r.text
        assert r.json()["limits"] == {**limits, "cpu_seconds": 1.0}


def test_an_extension_needs_a_reason_and_a_due_date_to_extend(stack: Stack):
    slug, teacher = new_cohort(stack, offer_course=True)
    student = name_of(stack, stack.new_user(cohort=slug))
    path = f"/cohorts/{slug}/assignments/1/extensions/{student}"
    due = datetime.now(UTC) + timedelta(days=2)
    with stack.client(teacher) as c:
        r = c.put(path, json={"due_at": iso(timedelta(days=3)), "reason": "was ill"})
        assert r.status_code == 422 and "no due date" in r.json()["detail"], r.text
        assert c.patch(
            f"/cohorts/{slug}/assignments/1", json={"due_at": due.isoformat()}
        ).is_success
        for body, words in (
            ({"due_at": iso(timedelta(days=3))}, "needs reason"),
            ({"due_at": iso(timedelta(days=3)), "reason": "   "}, "reason must say why"),
            ({"due_at": iso(timedelta(days=1)), "reason": "ill"}, "later than the cohort's due"),
            (
                {
                    "due_at": iso(timedelta(days=3)),
                    "close_at": iso(timedelta(days=2)),
                    "reason": "x",
                },
                "close_at is before due_at",
            ),
            ({"due_at": "1999-01-01T00:00:00Z", "reason": "ill"}, "between 2000 and 2200"),
        ):
            r = c.put(path, json=body)
            assert r.status_code == 422 and words in r.json()["detail"], (body, r.text)
        r = c.put(path, json={"due_at": iso(timedelta(days=3)), "reason": "was ill"})
        assert r.status_code == 200, r.text
        granted = r.json()
        r = c.patch(path, json={"reason": "was ill (doctor's note)"})
        assert r.status_code == 200, r.text
        assert r.json()["due_at"] == granted["due_at"]
        assert r.json()["reason"] == "was ill (doctor's note)"


def test_operators_and_instructors_enroll_and_remove_people_and_grades_stay(stack: Stack):
    slug, teacher = new_cohort(stack, offer_course=True)
    colleague = stack.new_user(role="instructor", cohort=None)
    colleague_name = name_of(stack, colleague)
    student = stack.new_user(cohort=slug)
    student_name = name_of(stack, student)
    with stack.client(colleague) as c:
        assert c.get(f"/cohorts/{slug}/matrix").status_code == 404  # not theirs yet
    with stack.client(stack.tokens["otto"]) as c:
        r = c.post(f"/cohorts/{slug}/members", json={"who": colleague_name, "role": "student"})
        assert r.status_code == 422 and "is an instructor, not a student" in r.json()["detail"]
        r = c.post(f"/cohorts/{slug}/members", json={"who": colleague_name, "role": "instructor"})
        assert r.status_code == 200 and r.json()["changed"] is True, r.text
        again = c.post(f"/cohorts/{slug}/members", json={"who": colleague_name})
        assert again.json()["changed"] is False
        assert c.post(f"/cohorts/{slug}/members", json={"who": "nobody-xyz"}).status_code == 404
    with stack.client(colleague) as c:
        assert c.get(f"/cohorts/{slug}/matrix").status_code == 200
        members = {m["name"]: m["role"] for m in c.get(f"/cohorts/{slug}/members").json()}
    assert members[colleague_name] == "instructor" and members[student_name] == "student"
    # An instructor of another cohort may not change who is in this one
    _, stranger = new_cohort(stack, offer_course=False)
    with stack.client(stranger) as c:
        assert c.delete(f"/cohorts/{slug}/members/{student_name}").status_code == 403

    with stack.client(student) as c:
        sub = c.post("/assignments/1/submissions", json={"code": f"# {uuid.uuid4()}\nx = 1\n"})
        assert sub.status_code in (201, 202), sub.text
    with stack.client(teacher) as c:
        r = c.delete(f"/cohorts/{slug}/members/{student_name}")
        assert r.status_code == 200, r.text
        assert c.delete(f"/cohorts/{slug}/members/{student_name}").status_code == 404
    with stack.client(student) as c:  # they see nothing of the cohort any more …
        wait_for(lambda: c.get("/assignments").json() == [], 10, "the removal to reach the API")
    with stack.client(stack.tokens["otto"]) as c:  # … and their submission is kept
        assert c.get(f"/submissions/{sub.json()['id']}").status_code == 200


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    env |= {k: v for k, v in stack.env.items() if k.startswith("GRADEFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "gradeflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_enrolls_and_removes_staff_and_one_name_rule_holds(stack: Stack):
    slug, _ = new_cohort(stack, offer_course=True)
    ada_in = cli(stack, "cohorts", "enroll", slug, "ada", "--role", "instructor")
    assert ada_in.returncode == 0 and f"enrolled instructor 'ada' in '{slug}'" in ada_in.stdout
    with stack.client(stack.tokens["ada"]) as c:
        assert c.get(f"/cohorts/{slug}/matrix").status_code == 200
    again = cli(stack, "cohorts", "enroll", slug, "ada")
    assert again.returncode == 0 and "already; nothing changed" in again.stdout
    wrong = cli(stack, "cohorts", "enroll", slug, "ada", "--role", "student")
    assert wrong.returncode == 1 and "ada is an instructor, not a student" in wrong.stderr
    out = cli(stack, "cohorts", "remove", slug, "ada")
    assert out.returncode == 0 and "removed instructor 'ada'" in out.stdout, out.stderr
    with stack.client(stack.tokens["ada"]) as c:
        assert c.get(f"/cohorts/{slug}/matrix").status_code == 404
    missing = cli(stack, "cohorts", "remove", slug, "ada")
    assert missing.returncode == 1 and f"ada is not in cohort '{slug}'" in missing.stderr

    bad = cli(stack, "users", "add", "Bad Name", "--role", "student")
    assert bad.returncode == 1 and "must be 1-100 letters" in bad.stderr
    loner = f"loner-{uuid.uuid4().hex[:6]}"
    alone = cli(stack, "users", "add", loner, "--role", "student")
    assert alone.returncode == 0, alone.stderr
    assert "see no assignments" in alone.stderr and f"cohorts enroll SLUG {loner}" in alone.stderr


def test_someone_in_two_cohorts_chooses_where_they_work(stack: Stack):
    a_slug, _ = new_cohort(stack, offer_course=True)
    b_slug, teacher_b = new_cohort(stack, offer_course=False)
    student = stack.new_user(cohort=a_slug)
    with stack.client(stack.tokens["otto"]) as c:
        assert c.post(
            f"/cohorts/{b_slug}/members", json={"who": name_of(stack, student)}
        ).is_success
    with stack.client(student) as c:
        me = c.get("/me").json()
        assert sorted(me["cohorts"]) == sorted([a_slug, b_slug]) and me["cohort"] == a_slug
        assert c.get("/assignments").json() != []  # a offers the course
        r = c.put("/me/cohort", json={"cohort": b_slug})
        assert r.status_code == 200 and r.json()["cohort"] == b_slug, r.text
        assert c.get("/me").json()["cohort"] == b_slug
        assert c.get("/assignments").json() == []  # b offers nothing
        r = c.put("/me/cohort", json={"cohort": "no-such-cohort"})
        assert r.status_code == 404 and "GET /api/v1/me lists yours" in r.json()["detail"]
    with stack.client(teacher_b) as c:  # leaving the chosen cohort falls back to the other
        assert c.delete(f"/cohorts/{b_slug}/members/{name_of(stack, student)}").is_success
    with stack.client(student) as c:
        wait_for(lambda: c.get("/me").json()["cohort"] == a_slug, 10, "the fallback cohort")


def test_a_new_cohort_is_offered_the_course_not_other_cohorts_copies(stack: Stack):
    b_slug, teacher_b = new_cohort(stack, offer_course=True)
    with stack.client(teacher_b) as c:
        copy = c.post(f"/assignments/{PRIME_SIEVE}/copy", json={"cohort": b_slug}).json()
    later, teacher = new_cohort(stack, offer_course=True)
    assert PRIME_SIEVE in offered(stack, teacher, later)
    assert copy["id"] not in offered(stack, teacher, later)
