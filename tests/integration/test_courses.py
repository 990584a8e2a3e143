"""Courses (issue #12): assignments offered to cohorts with their own dates and policy, enforced by the server's
clock at every submission, through the API against the real stack: release, on time, a late window's credit
cap, the hard close, an extension, submission limits, and who may edit what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gradeflow.accounts import add_cohort
from tests.conftest import Stack
from tests.integration.test_submission_path import RIGHT_HELLO, unique

pytestmark = pytest.mark.integration
HELLO = 1


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


H = timedelta(hours=1)


def course(stack: Stack, students: int = 1) -> tuple[str, str, list[tuple[str, str]]]:
    """A new cohort offered the course, its instructor, and students as (name, token)."""
    slug = f"course-{uuid.uuid4().hex[:8]}"
    stack.db(lambda session: add_cohort(session, slug))
    teacher = stack.new_user(role="instructor", cohort=slug)
    p = uuid.uuid4().hex[:6]
    text = "name\n" + "".join(f"{p}-{i}\n" for i in range(students))
    with stack.client(teacher) as c:
        created = c.post(f"/cohorts/{slug}/roster", json={"csv": text}).json()["created"]
    return slug, teacher, [(x["name"], x["token"]) for x in created]


def set_terms(stack: Stack, teacher: str, slug: str, assignment: int = HELLO, **terms) -> dict:
    with stack.client(teacher) as c:
        r = c.put(f"/cohorts/{slug}/assignments/{assignment}", json=terms)
    assert r.status_code == 200, r.text
    return r.json()


def submit(stack: Stack, token: str, assignment: int = HELLO):
    with stack.client(token) as c:
        return c.post(f"/assignments/{assignment}/submissions", json={"code": unique(RIGHT_HELLO)})


def test_before_its_release_an_assignment_does_not_exist_for_students(stack: Stack):
    slug, teacher, [(_, student)] = course(stack)
    set_terms(stack, teacher, slug, release_at=iso(24 * H))
    with stack.client(student) as c:
        assert HELLO not in [a["id"] for a in c.get("/assignments").json()]
        assert c.get(f"/assignments/{HELLO}").status_code == 404
        assert c.get("/me/progress").json()["next_assignment"]["id"] != HELLO
    r = submit(stack, student)
    assert r.status_code == 404 and "not open yet" in r.json()["detail"]
    set_terms(stack, teacher, slug, release_at=iso(-H))
    with stack.client(student) as c:
        assert HELLO in [a["id"] for a in c.get("/assignments").json()], "released: listed at once"


def test_on_time_is_full_credit_and_the_student_sees_their_terms(stack: Stack):
    slug, teacher, [(_, student)] = course(stack)
    set_terms(stack, teacher, slug, due_at=iso(H), late_windows=[{"hours": 24, "credit": 0.5}])
    with stack.client(student) as c:
        terms = c.get(f"/assignments/{HELLO}").json()["terms"]
    assert (terms["open_now"], terms["credit_now"], terms["window_now"]) == (True, 1.0, "on time")
    assert terms["late_windows"] == [{"hours": 24.0, "credit": 0.5}] and terms["closes_at"]
    graded = stack.wait_graded(student, submit(stack, student).json()["id"])
    assert (graded["score"], graded["max_score"], graded["credit"], graded["late"]) == (
        graded["max_score"],
        graded["max_score"],
        1.0,
        False,
    )


def test_a_late_window_caps_the_credit(stack: Stack):
    slug, teacher, [(_, student)] = course(stack)
    set_terms(
        stack,
        teacher,
        slug,
        due_at=iso(-H),
        late_windows=[{"hours": 24, "credit": 0.5}, {"hours": 48, "credit": 0.25}],
    )
    graded = stack.wait_graded(student, submit(stack, student).json()["id"])
    assert graded["passed"] and graded["late"] and graded["credit"] == 0.5
    assert graded["score"] == graded["max_score"] * 0.5
    assert graded["window"] == "late, within 24 h: 50% credit"
    with stack.client(student) as c:
        assert c.get("/me/progress").json()["points"] == graded["score"], "points on the same scale"
    (derivation,) = stack.sql(
        "SELECT derivation FROM submissions WHERE id = CAST(:id AS uuid)", id=graded["id"]
    )[0]
    # Version 1 is the course as the cohort was first offered it; these terms are the second.
    assert derivation["credit"] == 0.5 and derivation["policy_version"] == 2


def test_after_the_close_a_submission_is_refused_with_what_closed_and_when(stack: Stack):
    slug, teacher, [(_, student)] = course(stack)
    set_terms(stack, teacher, slug, due_at=iso(-2 * H), close_at=iso(-H))
    r = submit(stack, student)
    assert r.status_code == 403, r.text
    assert r.json()["detail"].startswith("Submissions to 'Hello' closed at ")
    assert "Ask your instructor for an extension" in r.json()["detail"]
    with stack.client(student) as c:
        terms = c.get(f"/assignments/{HELLO}").json()["terms"]
    assert not terms["open_now"] and "closed at" in terms["message_now"]


def test_an_extension_lets_one_student_submit_on_time_after_the_others_due_date(stack: Stack):
    slug, teacher, [(name_a, a), (name_b, b)] = course(stack, students=2)
    set_terms(stack, teacher, slug, due_at=iso(-H))
    with stack.client(teacher) as c:
        r = c.put(
            f"/cohorts/{slug}/assignments/{HELLO}/extensions/{name_b}",
            json={"due_at": iso(24 * H), "reason": "was ill"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["reason"] == "was ill" and r.json()["student"] == name_b
        assert (
            c.put(
                f"/cohorts/{slug}/assignments/{HELLO}/extensions/nobody-{uuid.uuid4().hex[:6]}",
                json={"due_at": iso(H)},
            ).status_code
            == 404
        )
        listed = {o["assignment_id"]: o for o in c.get(f"/cohorts/{slug}/assignments").json()}
        assert listed[HELLO]["extensions"] == 1
    assert submit(stack, a).status_code == 403, "the others' due date has passed"
    graded = stack.wait_graded(b, submit(stack, b).json()["id"])
    assert (graded["credit"], graded["late"]) == (1.0, False)
    with stack.client(b) as c:
        assert c.get(f"/assignments/{HELLO}").json()["terms"]["extended"] is True


def test_submission_limits_say_what_to_wait_for(stack: Stack):
    slug, teacher, [(_, student), (_, other)] = course(stack, students=2)
    set_terms(stack, teacher, slug, max_submissions=1)
    stack.wait_graded(student, submit(stack, student).json()["id"])
    r = submit(stack, student)
    assert r.status_code == 403 and "used all 1 submissions" in r.json()["detail"]
    with stack.client(student) as c:
        assert c.get(f"/assignments/{HELLO}").json()["terms"]["submissions_left"] == 0
    # A field left out keeps its value: the limit of one goes by an explicit null
    set_terms(stack, teacher, slug, max_submissions=None, min_minutes_between=10)
    stack.wait_graded(other, submit(stack, other).json()["id"])
    r = submit(stack, other)
    assert r.status_code == 429 and "before submitting to 'Hello' again" in r.json()["detail"]
    assert 500 < int(r.headers["Retry-After"]) <= 601


def test_instructors_change_only_what_their_cohorts_offer(stack: Stack):
    slug, teacher, _ = course(stack)
    lonely = f"lonely-{uuid.uuid4().hex[:6]}"
    stack.db(lambda session: add_cohort(session, lonely, offer_course=False))
    stranger = stack.new_user(role="instructor", cohort=lonely)
    with stack.client(stranger) as c:
        assert c.put(f"/assignments/{HELLO}", json={"handout": "mine now"}).status_code == 403
        assert c.put(f"/cohorts/{slug}/assignments/{HELLO}", json={}).status_code == 403
        # Nor can they take it over by offering it to their own cohort
        r = c.put(f"/cohorts/{lonely}/assignments/{HELLO}", json={})
        assert r.status_code == 403 and "Copy it instead" in r.json()["detail"]
        assert c.get("/assignments").status_code == 200
    with stack.client(teacher) as c:
        r = c.put(
            f"/cohorts/{slug}/assignments/{HELLO}", json={"close_at": iso(-H), "due_at": iso(H)}
        )
        assert r.status_code == 422 and "close_at is before due_at" in r.json()["detail"]
        r = c.put(
            f"/cohorts/{slug}/assignments/{HELLO}",
            json={"due_at": "2026-12-01T17:00:00"},  # no time zone
        )
        assert r.status_code == 422


def test_a_cohort_offering_nothing_shows_its_students_nothing(stack: Stack):
    lonely = f"lonely-{uuid.uuid4().hex[:6]}"
    stack.db(lambda session: add_cohort(session, lonely, offer_course=False))
    student = stack.new_user(cohort=lonely)
    teacher = stack.new_user(role="instructor", cohort=lonely)
    with stack.client(student) as c:
        assert c.get("/assignments").json() == []
        assert c.get("/me/progress").json()["next_assignment"] is None
    assert submit(stack, student).status_code == 404
    with stack.client(teacher) as c:  # nor its instructors: no column for what it does not offer
        assert c.get(f"/cohorts/{lonely}/matrix").json()["assignments"] == []
        assert c.get(f"/cohorts/{lonely}/gradebook").json()["assignments"] == []


def test_the_matrix_shows_late_and_missing_work_by_each_students_own_due_date(stack: Stack):
    slug, teacher, [(late, late_token), (absent, _), (extended, _)] = course(stack, students=3)
    set_terms(stack, teacher, slug, due_at=iso(-H), late_windows=[{"hours": 24, "credit": 0.5}])
    set_terms(stack, teacher, slug, assignment=3, due_at=iso(24 * H))
    with stack.client(teacher) as c:
        r = c.put(
            f"/cohorts/{slug}/assignments/{HELLO}/extensions/{extended}",
            json={"due_at": iso(24 * H), "reason": "was ill"},
        )
        assert r.status_code == 200, r.text
    stack.wait_graded(late_token, submit(stack, late_token).json()["id"])
    with stack.client(teacher) as c:
        matrix = c.get(f"/cohorts/{slug}/matrix").json()
    due = {a["id"]: a["due_at"] for a in matrix["assignments"]}
    assert due[HELLO] is not None and due[3] is not None and due[2] is None
    cells = {s["name"]: s["cells"] for s in matrix["students"]}
    assert cells[late][str(HELLO)]["state"] == "solved" and cells[late][str(HELLO)]["late"]
    assert cells[absent][str(HELLO)] == {"state": "missing", "best_score": None, "attempts": 0}
    assert str(HELLO) not in cells[extended], "their own due date has not passed"
    assert all("3" not in row and "2" not in row for row in cells.values()), "not due yet, or never"


def test_an_extension_recounts_exactly_the_affected_grades_without_running_code(stack: Stack):
    from tests.conftest import run_async, wait_for

    slug, teacher, [(late_name, late), (_, other)] = course(stack, students=2)
    set_terms(stack, teacher, slug, due_at=iso(-H), late_windows=[{"hours": 24, "credit": 0.5}])
    capped = stack.wait_graded(late, submit(stack, late).json()["id"])
    untouched = stack.wait_graded(other, submit(stack, other).json()["id"])
    assert capped["credit"] == untouched["credit"] == 0.5
    runs_before = stack.sql("SELECT count(*) FROM grading_runs")[0][0]

    with stack.client(teacher) as c:
        granted = c.put(
            f"/cohorts/{slug}/assignments/{HELLO}/extensions/{late_name}",
            json={"due_at": iso(24 * H), "reason": "was ill"},
        ).json()
        recompute = granted["recompute"]
        assert recompute is not None, granted
        report = wait_for(
            lambda: (
                (r := c.get(recompute["links"]["self"].removeprefix("/api/v1")).json())["status"]
                == "completed"
                and r
            ),
            60,
            "the recompute to finish",
        )
    assert (report["checked"], report["changed"]) == (1, 1), "only the extended student's grade"
    (change,) = report["changes"]
    assert (change["student"], change["submission_id"]) == (late_name, capped["id"])
    assert (change["old_credit"], change["new_credit"]) == (0.5, 1.0)
    assert (change["old_score"], change["new_score"]) == (capped["score"], capped["max_score"])
    assert "granted" in change["why"] and "was ill" in change["why"] and "on time" in change["why"]
    with stack.client(teacher) as c:  # the ledger: the cohort's recounts, most recent first
        (listed,) = c.get(f"/cohorts/{slug}/recomputes").json()
    assert (listed["id"], listed["status"], listed["changed"]) == (recompute["id"], "completed", 1)
    assert listed["assignment_id"] == HELLO and listed["finished_at"] >= listed["created_at"]
    with stack.client(late) as c:
        now = c.get(f"/submissions/{capped['id']}").json()
        assert (now["score"], now["credit"], now["late"]) == (capped["max_score"], 1.0, False)
        assert c.get("/me/progress").json()["points"] == capped["max_score"]
    with stack.client(other) as c:
        assert c.get(f"/submissions/{untouched['id']}").json()["credit"] == 0.5

    # No code ran again: no new grading run, and Temporal saw a recount, not a grading.
    assert stack.sql("SELECT count(*) FROM grading_runs")[0][0] == runs_before

    kinds = wait_for(  # Temporal's visibility is eventually consistent
        lambda: (k := run_async(lambda: _kinds(stack, slug))).count("RecomputeGrades") == 1 and k,
        30,
        "the recompute in Temporal's workflow list",
    )
    assert kinds.count("GradeSubmission") == 2, kinds


async def _kinds(stack: Stack, slug: str) -> list[str]:
    from temporalio.client import Client

    client = await Client.connect(stack.temporal_address)
    return [w.workflow_type async for w in client.list_workflows(f"GradeflowCohort = '{slug}'")]
