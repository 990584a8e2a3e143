"""The gradebook (issue #12): a cohort's grades by its rule (best or latest graded score, partial credit), as
JSON and as the CSV layouts Canvas and Moodle import, checked cell by cell against grades computed here from the
scores the API reported for real gradings."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import uuid

import pytest

from gradeflow.accounts import add_cohort
from tests.conftest import Stack
from tests.integration.test_submission_path import RIGHT_HELLO, WRONG_HELLO, unique

pytestmark = pytest.mark.integration
# Right for 2 + 4, wrong for 40 + 2
PARTIAL_SUM = "def sum(a, b):\n    return a + b if a < 10 else 0\n"
RIGHT_SUM = "def sum(a, b):\n    return a + b\n"


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gradeflow", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def course(stack: Stack) -> dict:
    """A cohort of three students (one with email and SIS id, one with an email, one with neither) who submit
    real code in a known order, and what the API said each submission scored."""
    slug = f"book-{uuid.uuid4().hex[:8]}"
    stack.db(lambda session: add_cohort(session, slug))
    teacher = stack.new_user(role="instructor", cohort=slug)
    p = uuid.uuid4().hex[:6]
    text = (
        f"name,email,sis_id\n{p}-a,{p}-a@example.edu,S-{p}-1\n{p}-b,{p}-b@example.edu,\n{p}-c,,\n"
    )
    with stack.client(teacher) as c:
        people = {
            x["name"]: x
            for x in c.post(f"/cohorts/{slug}/roster", json={"csv": text}).json()["created"]
        }
        # What the cohort offers: the course, not the copies other tests' cohorts made for themselves
        offered = {o["assignment_id"] for o in c.get(f"/cohorts/{slug}/assignments").json()}
        assignments = [a for a in c.get("/assignments").json() if a["id"] in offered]
    sum_id = next(a["id"] for a in assignments if a["slug"] == "sum")
    plan = [  # (student, assignment, code), in the order submitted
        (f"{p}-a", 1, WRONG_HELLO),
        (f"{p}-a", 1, RIGHT_HELLO),
        (f"{p}-a", 1, WRONG_HELLO),  # latest < best
        (f"{p}-b", 1, RIGHT_HELLO),
        (f"{p}-b", sum_id, RIGHT_SUM),
        (f"{p}-b", sum_id, PARTIAL_SUM),  # partial credit, latest
    ]
    scores: dict[tuple[str, int], list[float]] = {}
    for name, assignment_id, code in plan:
        token = people[name]["token"]
        with stack.client(token) as c:
            r = c.post(f"/assignments/{assignment_id}/submissions", json={"code": unique(code)})
            assert r.status_code == 202, r.text
        graded = stack.wait_graded(token, r.json()["id"])
        assert graded["status"] == "graded", graded
        scores.setdefault((name, assignment_id), []).append(graded["score"])
    return {
        "slug": slug,
        "teacher": teacher,
        "people": people,
        "assignments": assignments,
        "scores": scores,
        "names": sorted(people),
    }


def expected(course: dict, rule: str) -> dict[str, dict[int, float]]:
    pick = (lambda s: s[-1]) if rule == "latest" else max
    return {
        name: {a: pick(s) for (n, a), s in course["scores"].items() if n == name}
        for name in course["names"]
    }


def number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def gradebook(stack: Stack, course: dict, layout: str):
    with stack.client(course["teacher"]) as c:
        r = c.get(f"/cohorts/{course['slug']}/gradebook", params={"format": layout})
    assert r.status_code == 200, r.text
    if layout == "json":
        return r.json()
    assert r.headers["content-type"].startswith("text/csv")
    assert f"{course['slug']}-gradebook-{layout}.csv" in r.headers["content-disposition"]
    return list(csv.reader(io.StringIO(r.text)))


def test_the_scores_include_partial_credit_and_differ_between_best_and_latest(course):
    p = course["names"][0].rsplit("-", 1)[0]
    sum_scores = next(s for (n, a), s in course["scores"].items() if n == f"{p}-b" and a != 1)
    assert 0 < sum_scores[-1] < sum_scores[0], "a partial score below the full one"
    assert expected(course, "best") != expected(course, "latest")


@pytest.mark.parametrize("rule", ["best", "latest"])
def test_the_canvas_gradebook_cell_by_cell(stack: Stack, course: dict, rule: str):
    assert cli(stack, "cohorts", "rule", course["slug"], rule).returncode == 0
    rows = gradebook(stack, course, "canvas")
    assignments = course["assignments"]
    assert rows[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        *(f"{a['title']} ({a['id']})" for a in assignments),
    ]
    assert rows[1] == [
        "Points Possible",
        "",
        "",
        "",
        "",
        *(number(a["points"]) for a in assignments),
    ]
    want = expected(course, rule)
    people = course["people"]
    assert [r[0] for r in rows[2:]] == course["names"], "one row per student, by name"
    for row in rows[2:]:
        person = people[row[0]]
        assert row[1:5] == [
            "",
            person["sis_id"] or "",
            person["email"] or person["name"],
            course["slug"],
        ]
        assert row[5:] == [number(want[row[0]].get(a["id"])) for a in assignments], row[0]


def test_the_json_and_moodle_gradebooks_say_the_same(stack: Stack, course: dict):
    assert cli(stack, "cohorts", "rule", course["slug"], "best").returncode == 0
    book = gradebook(stack, course, "json")
    want = expected(course, "best")
    assert book["rule"] == "best" and [s["name"] for s in book["students"]] == course["names"]
    for student in book["students"]:
        grades = want[student["name"]]
        assert student["grades"] == {
            str(a["id"]): grades.get(a["id"]) for a in course["assignments"]
        }
        assert student["total"] == round(sum(grades.values()), 2)
    assert book["points_possible"] == sum(a["points"] for a in course["assignments"])
    rows = gradebook(stack, course, "moodle")
    assert rows[0] == [
        "ID number",
        "Email address",
        "Username",
        *(a["title"] for a in course["assignments"]),
    ]
    for row in rows[1:]:
        person = course["people"][row[2]]
        assert row[:2] == [person["sis_id"] or "", person["email"] or ""]
        assert row[3:] == [number(want[row[2]].get(a["id"])) for a in course["assignments"]]


def test_the_cli_writes_what_the_api_serves(stack: Stack, course: dict, tmp_path):
    assert cli(stack, "cohorts", "rule", course["slug"], "best").returncode == 0
    out = tmp_path / "canvas.csv"
    done = cli(stack, "gradebook", course["slug"], "--format", "canvas", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert list(csv.reader(io.StringIO(out.read_text()))) == gradebook(stack, course, "canvas")
    missing = cli(stack, "gradebook", "no-such-cohort")
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_only_the_cohorts_staff_read_its_gradebook(stack: Stack, course: dict):
    student = course["people"][course["names"][0]]["token"]
    for token, status in (
        (student, 403),
        (stack.new_user(role="instructor", cohort=None), 404),
        (stack.new_user(role="operator", cohort=None), 200),
    ):
        with stack.client(token) as c:
            assert c.get(f"/cohorts/{course['slug']}/gradebook").status_code == status


def test_a_students_points_are_their_gradebook_total(stack: Stack, course: dict):
    for rule in ("latest", "best"):
        assert cli(stack, "cohorts", "rule", course["slug"], rule).returncode == 0
        totals = {s["name"]: s["total"] for s in gradebook(stack, course, "json")["students"]}
        for name, person in course["people"].items():
            with stack.client(person["token"]) as c:
                progress = c.get("/me/progress").json()
            assert progress["points"] == totals[name], (rule, name)
    assert progress["points_possible"] == sum(a["points"] for a in course["assignments"])
