"""Rosters and tokens (issue #12): importing a cohort's people from CSV through the API and the CLI, and tokens
revoked or rotated from the CLI refused on their very next request, against the real stack."""

from __future__ import annotations

import csv
import io
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from gradeflow.accounts import add_cohort
from gradeflow.tokens import hash_token
from tests.conftest import Stack, wait_for

pytestmark = pytest.mark.integration


def cohort_taught(stack: Stack) -> tuple[str, str]:
    """A new cohort and the token of an instructor who teaches it."""
    slug = f"roster-{uuid.uuid4().hex[:8]}"
    stack.db(lambda session: add_cohort(session, slug))
    return slug, stack.new_user(role="instructor", cohort=slug)


def roster(people: int, prefix: str) -> str:
    lines = ["name,email,sis_id"] + [
        f"{prefix}-{i},{prefix}-{i}@example.edu,{prefix}-S{i:05d}" for i in range(people)
    ]
    return "\n".join(lines) + "\n"


def gradeflow(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gradeflow", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_instructor_imports_500_students_whose_tokens_work(stack: Stack):
    slug, teacher = cohort_taught(stack)
    prefix = uuid.uuid4().hex[:6]
    with stack.client(teacher) as c:
        started = time.monotonic()
        r = c.post(f"/cohorts/{slug}/roster", json={"csv": roster(500, prefix)})
        took = time.monotonic() - started
        print(f"\nimported 500 students in {took:.2f} s")
        assert r.status_code == 201, r.text
        body = r.json()
        assert (len(body["created"]), body["enrolled"], body["already"]) == (500, [], [])
        first = body["created"][0]
        assert (first["name"], first["email"], first["sis_id"], first["role"]) == (
            f"{prefix}-0",
            f"{prefix}-0@example.edu",
            f"{prefix}-S00000",
            "student",
        )
        assert len({p["token"] for p in body["created"]}) == 500
        cohorts = {x["slug"]: x for x in c.get("/cohorts").json()}
        assert cohorts[slug]["students"] == 500
        again = c.post(f"/cohorts/{slug}/roster", json={"csv": roster(500, prefix)}).json()
        assert (len(again["created"]), len(again["already"])) == (0, 500), "importing is idempotent"
    for person in body["created"][::100]:
        with stack.client(person["token"]) as c:
            me = c.get("/me/progress")
            assert me.status_code == 200, me.text
            assert c.get("/assignments").status_code == 200


def test_people_already_on_gradeflow_are_enrolled_and_keep_their_tokens(stack: Stack):
    from tests.integration.test_submission_path import RIGHT_HELLO, unique

    slug, teacher = cohort_taught(stack)
    prefix = uuid.uuid4().hex[:6]
    with stack.client(teacher) as c:
        first = c.post(f"/cohorts/{slug}/roster", json={"csv": roster(2, prefix)}).json()["created"]
    with stack.client(first[0]["token"]) as c:
        sub = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)}).json()
    stack.wait_graded(first[0]["token"], sub["id"])
    other, other_teacher = cohort_taught(stack)
    # The same people, known to the second cohort by their SIS ids only, plus one new.
    text = f"name,sis_id\n{prefix}-x,{prefix}-S00000\n{prefix}-new,\n"
    with stack.client(other_teacher) as c:
        body = c.post(f"/cohorts/{other}/roster", json={"csv": text}).json()
    assert body["enrolled"] == [f"{prefix}-0"] and [p["name"] for p in body["created"]] == [
        f"{prefix}-new"
    ]
    with stack.client(other_teacher) as c:
        matrix = c.get(f"/cohorts/{other}/matrix").json()
        cells = {s["name"]: s["cells"] for s in matrix["students"]}
        assert cells[f"{prefix}-0"] == {}, (
            "the work done in another cohort is not this cohort's to see"
        )
        assert c.get(f"/submissions/{sub['id']}").status_code == 404


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("email\nx@example.edu\n", "at least 'name'"),
        ("name,phone\nx,123\n", "unknown column(s) 'phone'"),
        (
            "name,email\nok-1,ok@example.edu\nbad name,\nok-2,not-an-email\n",
            "line 3: name 'bad name'",
        ),
        (
            "name,email\nok-1,ok@example.edu\nbad name,\nok-2,not-an-email\n",
            "line 4: 'not-an-email'",
        ),
        ("name,sis_id\na-1,S1\na-2,S1\n", "line 3: the same sis_id as line 2"),
        ("name,role\nboss,operator\n", "cannot create operators"),
        ("name\n", "nobody in it"),
    ],
)
def test_a_bad_roster_changes_nothing_and_names_every_bad_row(stack: Stack, text: str, says: str):
    slug, teacher = cohort_taught(stack)
    with stack.client(teacher) as c:
        r = c.post(f"/cohorts/{slug}/roster", json={"csv": text})
        assert r.status_code == 422 and says in r.json()["detail"], r.text
        assert {x["slug"]: x for x in c.get("/cohorts").json()}[slug]["students"] == 0


def test_only_the_cohorts_instructors_import_into_it(stack: Stack):
    slug, _ = cohort_taught(stack)
    text = f"name\n{uuid.uuid4().hex[:8]}\n"
    _, other_teacher = cohort_taught(stack)
    for token, status in (
        (other_teacher, 403),
        (stack.new_user(), 403),
        (stack.new_user(role="operator", cohort=None), 403),
        (None, 401),
    ):
        with stack.client(token) as c:
            assert c.post(f"/cohorts/{slug}/roster", json={"csv": text}).status_code == status
    with stack.client(other_teacher) as c:
        assert c.post("/cohorts/no-such-cohort/roster", json={"csv": text}).status_code == 404


def test_the_cli_imports_a_roster_with_tokens_for_the_owner_only(stack: Stack, tmp_path: Path):
    slug, _ = cohort_taught(stack)
    prefix = uuid.uuid4().hex[:6]
    source, tokens = tmp_path / "roster.csv", tmp_path / "tokens.csv"
    source.write_text(roster(3, prefix))
    done = gradeflow(stack, "roster", slug, str(source), "--tokens", str(tokens))
    assert done.returncode == 0, done.stderr
    assert "3 created" in done.stdout and str(tokens) in done.stdout
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(tokens.read_text())))
    assert [r["name"] for r in rows] == [f"{prefix}-{i}" for i in range(3)]
    with stack.client(rows[0]["token"]) as c:
        assert c.get("/me/progress").status_code == 200
    again = gradeflow(stack, "roster", slug, str(source), "--tokens", str(tokens))
    assert again.returncode == 1 and "File exists" in again.stderr, "never overwrites a tokens file"
    listed = gradeflow(stack, "users", "list", "--cohort", slug)
    assert (
        listed.returncode == 0
        and f"{prefix}-S00001" in listed.stdout
        and "4 users" in listed.stdout  # and their instructor
    )
    cohorts = gradeflow(stack, "cohorts", "list")
    assert cohorts.returncode == 0 and any(
        line.split()[:2] == [slug, "3"] for line in cohorts.stdout.splitlines()
    )


def test_a_revoked_token_is_refused_on_its_next_request_and_a_rotated_one_replaced(stack: Stack):
    token = stack.new_user()
    (name,) = stack.sql("SELECT name FROM users WHERE token_hash = :h", h=hash_token(token))[0]
    with stack.client(token) as c:
        for _ in range(4):  # cached by the API processes that answered (the cache keeps it 5 s)
            assert c.get("/assignments").status_code == 200
        revoked = gradeflow(stack, "users", "revoke", name)
        assert revoked.returncode == 0, revoked.stderr
        # Well within the cache's 5 s: the API processes were told (Redis pub/sub delivers in milliseconds).
        wait_for(lambda: c.get("/assignments").status_code == 401, 2, "the revoked token refused")
        for _ in range(10):
            r = c.get("/assignments")
            assert r.status_code == 401 and "revoked" in r.json()["detail"], r.text
    rotated = gradeflow(stack, "users", "rotate", name)
    assert rotated.returncode == 0, rotated.stderr
    new_token = rotated.stdout.strip().splitlines()[-1]
    with stack.client(new_token) as c:
        assert c.get("/assignments").status_code == 200
    with stack.client(token) as c:
        assert c.get("/assignments").status_code == 401
    missing = gradeflow(stack, "users", "revoke", "nobody-" + uuid.uuid4().hex)
    assert missing.returncode == 1 and "no user named" in missing.stderr
