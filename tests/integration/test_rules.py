"""Every submission and access rule, asserting the status code and the message (issue #2, acceptance 6)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.conftest import Stack
from tests.integration.test_submission_path import RIGHT_HELLO, submit, unique

pytestmark = pytest.mark.integration


def test_no_token_is_401(stack: Stack):
    with stack.client() as c:
        response = c.get("/me/progress")
    assert response.status_code == 401
    assert "Missing API token" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_token_is_401(stack: Stack):
    with stack.client("gf_not-a-real-token") as c:
        response = c.post("/assignments/1/submissions", json={"code": RIGHT_HELLO})
    assert response.status_code == 401
    assert "Unknown or revoked API token" in response.json()["detail"]


def test_code_over_64_kib_is_413(stack: Stack):
    code = RIGHT_HELLO + "#" * (64 * 1024)
    response = submit(stack, stack.new_user(), code)
    assert response.status_code == 413
    assert "the limit is 65,536 bytes (64 KiB)" in response.json()["detail"]


def test_code_of_exactly_64_kib_is_accepted(stack: Stack):
    token = stack.new_user()
    code = unique(RIGHT_HELLO)
    code += "#" * (64 * 1024 - len(code.encode()))
    response = submit(stack, token, code)
    assert response.status_code == 202, response.text
    stack.wait_graded(token, response.json()["id"])


def test_huge_body_is_413_before_parsing(stack: Stack):
    with stack.client(stack.new_user()) as c:
        response = c.post(
            "/assignments/1/submissions",
            content=b'{"code": "' + b"x" * (2 * 1024 * 1024) + b'"}',
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413
    assert "the limit is" in response.json()["detail"]


@pytest.mark.parametrize("code", ["", "   \n\t  "])
def test_empty_code_is_422(stack: Stack, code: str):
    response = submit(stack, stack.new_user(), code)
    assert response.status_code == 422
    assert response.json()["detail"] == "code is empty. Paste your solution into the code field."


def test_code_that_is_not_utf8_is_422(stack: Stack):
    with stack.client(stack.new_user()) as c:
        raw = c.post(
            "/assignments/1/submissions",
            content=b'{"code": "def hello(): return \xff\xfe"}',
            headers={"content-type": "application/json"},
        )
        surrogate = c.post(
            "/assignments/1/submissions",
            content=b'{"code": "x = \'\\ud800\'"}',
            headers={"content-type": "application/json"},
        )
    assert raw.status_code == 422
    assert "not valid UTF-8" in raw.json()["detail"]
    assert surrogate.status_code == 422
    assert surrogate.json()["detail"].startswith(
        "code: Value error, must be valid Unicode text: character 6 is a lone surrogate (\\ud800)"
    )


def test_malformed_json_is_422_with_a_message(stack: Stack):
    with stack.client(stack.new_user()) as c:
        response = c.post(
            "/assignments/1/submissions",
            content=b'{"code": ',
            headers={"content-type": "application/json"},
        )
        missing = c.post("/assignments/1/submissions", json={"source": RIGHT_HELLO})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("The request body is not valid JSON")
    assert missing.status_code == 422
    assert (
        missing.json()["detail"]
        == "code is required. source is not a field of this request; remove it."
    )


def test_unknown_assignment_is_404(stack: Stack):
    response = submit(stack, stack.new_user(), RIGHT_HELLO, assignment_id=9999)
    assert response.status_code == 404
    assert response.json()["detail"].startswith("Assignment 9999 does not exist")
    with stack.client(stack.new_user()) as c:
        assert c.get("/assignments/9999").status_code == 404


def test_too_many_submissions_is_429(stack: Stack):
    # The limit counts per clock minute (the test stack allows 12): a burst that straddles a minute boundary
    # is counted in two, so such a burst is tried again by a fresh student.
    for _ in range(3):
        minute = int(time.time() // 60)
        token = stack.new_user()
        codes = [submit(stack, token, unique(RIGHT_HELLO)).status_code for _ in range(13)]
        if int(time.time() // 60) == minute:
            break
    assert codes[0] in (201, 202)
    assert codes[-1] == 429
    response = submit(stack, token, unique(RIGHT_HELLO))
    assert response.status_code == 429
    assert "at most 12 a minute" in response.json()["detail"]
    assert int(response.headers["retry-after"]) > 0


def test_students_cannot_read_other_students_submissions(stack: Stack):
    owner, other = stack.new_user(), stack.new_user()
    code = unique(RIGHT_HELLO)
    sub = submit(stack, owner, code).json()
    stack.wait_graded(owner, sub["id"])
    with stack.client(other) as c:
        for path in (f"/submissions/{sub['id']}", f"/submissions/{sub['id']}/code"):
            response = c.get(path)
            assert response.status_code == 404
            assert "not found (or it is not yours)" in response.json()["detail"]
        assert c.get("/me/submissions").json() == []
    with stack.client(owner) as c:
        assert c.get(f"/submissions/{sub['id']}/code").json()["code"] == code


def test_instructors_see_their_cohorts_submissions_only(stack: Stack):
    student = stack.new_user(cohort="demo")
    sub = submit(stack, student, unique(RIGHT_HELLO)).json()
    stack.wait_graded(student, sub["id"])
    with stack.client(stack.tokens["ada"]) as c:  # instructor of the demo cohort
        assert c.get(f"/submissions/{sub['id']}").json()["passed"] is True
    outsider = stack.new_user(role="instructor", cohort=None)
    with stack.client(outsider) as c:
        assert c.get(f"/submissions/{sub['id']}").status_code == 404


def test_malformed_submission_id_is_422(stack: Stack):
    with stack.client(stack.new_user()) as c:
        response = c.get("/submissions/not-a-uuid")
    assert response.status_code == 422
    assert "is not a submission id" in response.json()["detail"]


def test_students_never_see_test_source(stack: Stack):
    with stack.client(stack.new_user()) as c:
        listed = c.get("/assignments").json()
        one = c.get("/assignments/1").json()
    assert [a["title"] for a in listed[:3]] == ["Hello", "Hello world", "Sum"]
    for body in [one, *listed]:
        assert "test_code" not in body and "reference_solution" not in body
    with stack.client(stack.tokens["ada"]) as c:
        assert "def test_returns_hello" in c.get("/assignments/1").json()["test_code"]


def test_only_instructors_write_assignments(stack: Stack):
    body = {"title": "Student-made", "test_code": "import unittest\n"}
    for token in (stack.new_user(), stack.new_user(role="operator")):
        with stack.client(token) as c:
            response = c.post("/assignments", json=body)
            assert response.status_code == 403
            assert "needs the instructor role" in response.json()["detail"]
    with stack.client(stack.new_user()) as c:
        response = c.put("/assignments/1", json={"title": "x"})
        assert response.status_code == 403
        assert "needs the instructor or operator role" in response.json()["detail"]


def test_instructor_creates_and_updates_an_assignment(stack: Stack):
    slug = f"double-{uuid.uuid4().hex[:8]}"
    tests = (
        "import unittest\nfrom solution import double\n\n\nclass TestDouble(unittest.TestCase):\n"
        "    def test_two(self):\n        self.assertEqual(double(2), 4)\n"
    )
    with stack.client(stack.tokens["ada"]) as c:
        bad = c.post(
            "/assignments", json={"title": "Double", "slug": slug, "test_code": "def broken(:\n"}
        )
        assert bad.status_code == 422
        assert "test_code has a syntax error on line 1" in bad.json()["detail"]
        limits = c.post(
            "/assignments",
            json={
                "title": "Double",
                "slug": slug,
                "test_code": tests,
                "limits": {"cpu_seconds": 500},
            },
        )
        assert limits.status_code == 422 and "limits.cpu_seconds" in limits.json()["detail"]

        created = c.post(
            "/assignments",
            json={
                "title": "Double",
                "slug": slug,
                "order": 100,
                "test_code": tests,
                "handout": "Return twice the input.",
            },
        )
        assert created.status_code == 201, created.text
        assignment = created.json()
        assert assignment["limits"] == {
            "cpu_seconds": 2.0,
            "wall_seconds": 5.0,
            "memory_mb": 256,
            "output_kb": 256,
        }
        duplicate = c.post(
            "/assignments", json={"title": "Double", "slug": slug, "test_code": tests}
        )
        assert duplicate.status_code == 409 and slug in duplicate.json()["detail"]

        updated = c.put(f"/assignments/{assignment['id']}", json={"limits": {"cpu_seconds": 1}})
        assert updated.status_code == 200
        assert updated.json()["limits"]["cpu_seconds"] == 1
        assert updated.json()["test_version"] != assignment["test_version"]
        renamed = c.put(f"/assignments/{assignment['id']}", json={"title": "Double it"})
        assert renamed.json()["test_version"] == updated.json()["test_version"]

    student = stack.new_user()
    with stack.client(student) as c:
        assert "Double it" in [a["title"] for a in c.get("/assignments").json()], (
            "the list cache must be purged"
        )
    sub = submit(
        stack, student, "def double(x):\n    return 2 * x\n", assignment_id=assignment["id"]
    ).json()
    assert stack.wait_graded(student, sub["id"])["passed"] is True


def test_health_reports_each_service_and_503_when_one_is_down(stack: Stack):
    ok = httpx.get(f"{stack.api_url}/api/v1/health")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "database": "ok", "redis": "ok", "temporal": "ok"}

    from gradeflow.launch.embedded import free_port
    from tests.conftest import Role, wait_for

    port, dead = free_port(), free_port()
    env = {**stack.env, "GRADEFLOW_REDIS_URL": f"redis://127.0.0.1:{dead}/0"}
    api = Role(
        [sys.executable, "-m", "gradeflow", "api", "--port", str(port)],
        env,
        stack.home / "logs/api-503.log",
    )
    api.start()
    try:

        def answer():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10)
            except httpx.HTTPError:
                return None

        response = wait_for(answer, 60, "the second API to answer")
    finally:
        api.stop()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["database"] == "ok" and body["temporal"] == "ok"
    assert body["redis"] == "unreachable: connection refused (is it running?)"


def test_cli_adds_cohorts_and_users_with_working_tokens(stack: Stack):
    slug = f"cohort-{uuid.uuid4().hex[:8]}"

    def gradeflow(*args):
        return subprocess.run(
            [sys.executable, "-m", "gradeflow", *args],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert gradeflow("cohorts", "add", slug).returncode == 0
    again = gradeflow("cohorts", "add", slug)
    assert again.returncode == 1 and "already exists" in again.stderr
    created = gradeflow("users", "add", f"stu-{slug}", "--role", "student", "--cohort", slug)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("gf_")
    with stack.client(token) as c:
        me = c.get("/me").json()
    assert (me["role"], me["cohorts"]) == ("student", [slug])
    assert stack.sql("SELECT count(*) FROM users WHERE token_hash = :t", t=token) == [(0,)], (
        "tokens are hashed"
    )
    missing = gradeflow(
        "users", "add", f"x-{slug}", "--role", "student", "--cohort", "no-such-cohort"
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr
