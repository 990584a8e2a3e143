"""The API keeps its contract: schemathesis fuzzes every operation for each role and finds no server error and no
answer outside the OpenAPI document; and an authorization matrix pins who may do what: every route for anonymous,
the owner, another student, an instructor of the cohort, an instructor of another cohort, and an operator.

Both run on a stack of their own: fuzzing as an instructor edits assignments and starts regrades."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from gradeflow.launch.synthetic import Answer, synthetic_cohort
from gradeflow.tokens import hash_token
from tests.conftest import Stack, wait_for
from tests.integration.test_submission_path import RIGHT_HELLO, submit, unique
from tests.similarity_samples import ORIGINAL, RENAMED, STARTER

pytestmark = pytest.mark.integration

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
    "response_schema_conformance"
)
# Examples per operation: enough to find what a 3-minute run found before, bounded for CI (about 20 s a role).
EXAMPLES = os.environ.get("GRADEFLOW_FUZZ_EXAMPLES", "40")


@pytest.mark.parametrize("role", ["student", "instructor", "operator"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    own_stack: Stack, role: str, tmp_path
):
    token = {
        "student": own_stack.new_user(),
        "instructor": own_stack.tokens["ada"],
        "operator": own_stack.tokens["otto"],
    }[role]
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{own_stack.api_url}/openapi.json",
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            EXAMPLES,
            "--request-timeout",
            "30",
            "--seed",
            "20261125",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "generated" in result.stdout, result.stdout[-2000:]


# --- the authorization matrix -----------------------------------------------------------------------------------
WHO = ("anonymous", "owner", "other_student", "instructor", "other_instructor", "operator")
# Allowed: a 2xx, or an answer on the request's merits (409: e.g. a regrade already running; 429: the fuzzing
# above submitted as this user within the minute).
OK = "ok"


def cells(
    anonymous, owner, other_student, instructor, other_instructor, operator
) -> dict[str, object]:
    return dict(
        zip(
            WHO,
            (anonymous, owner, other_student, instructor, other_instructor, operator),
            strict=True,
        )
    )


SIGNED_IN = cells(401, OK, OK, OK, OK, OK)
INSTRUCTORS = cells(401, 403, 403, OK, OK, 403)
OPERATORS = cells(401, 403, 403, 403, 403, OK)
OWNER_AND_STAFF = cells(401, OK, 404, OK, 404, OK)
COHORT_STAFF = cells(401, 403, 403, OK, 404, OK)
COHORT_INSTRUCTOR = cells(401, 403, 403, OK, 404, 403)
# Similarity reports: the cohort's instructors only; anyone else who is signed in is refused outright.
SIMILARITY = cells(401, 403, 403, OK, 403, 403)

ROUTES = [
    ("GET", "/health", None, cells(OK, OK, OK, OK, OK, OK)),
    ("GET", "/languages", None, SIGNED_IN),
    ("GET", "/assignments", None, SIGNED_IN),
    ("GET", "/assignments/{assignment}", None, SIGNED_IN),
    ("POST", "/assignments/check", "check", INSTRUCTORS),
    ("POST", "/assignments", "new_assignment", INSTRUCTORS),
    # The other instructor's cohort is offered the same course: they may not change what grades demo, and may
    # copy it instead; operators may change any assignment.
    ("PUT", "/assignments/{assignment}", "edit", cells(401, 403, 403, OK, 403, OK)),
    ("PATCH", "/assignments/{assignment}", "edit", cells(401, 403, 403, OK, 403, OK)),
    ("POST", "/assignments/{assignment}/copy", "copy", INSTRUCTORS),
    ("POST", "/assignments/{assignment}/submissions", "code", SIGNED_IN),
    ("GET", "/submissions/{submission}", None, OWNER_AND_STAFF),
    ("GET", "/submissions/{submission}/events", None, OWNER_AND_STAFF),
    ("GET", "/submissions/{submission}/code", None, OWNER_AND_STAFF),
    ("GET", "/me", None, SIGNED_IN),
    ("GET", "/me/submissions", None, SIGNED_IN),
    ("GET", "/me/progress", None, SIGNED_IN),
    ("PUT", "/me/cohort", "choose_demo", cells(401, OK, OK, OK, 404, OK)),
    ("GET", "/cohorts", None, cells(401, 403, 403, OK, OK, OK)),
    ("GET", "/cohorts/{cohort}/matrix", None, COHORT_STAFF),
    ("GET", "/cohorts/{cohort}/gradebook", None, COHORT_STAFF),
    ("POST", "/cohorts/{cohort}/roster", "roster", cells(401, 403, 403, OK, 403, 403)),
    ("GET", "/cohorts/{cohort}/assignments", None, COHORT_STAFF),
    ("GET", "/cohorts/{cohort}/members", None, COHORT_STAFF),
    ("POST", "/cohorts/{cohort}/members", "member", cells(401, 403, 403, OK, 403, OK)),
    ("DELETE", "/cohorts/{cohort}/members/{leaver}", "leave", cells(401, 403, 403, OK, 403, OK)),
    *[
        (
            method,
            "/cohorts/{cohort}/assignments/{assignment}",
            "offering",
            cells(401, 403, 403, OK, 403, 403),
        )
        for method in ("PUT", "PATCH")
    ],
    ("GET", "/cohorts/{cohort}/recomputes", None, COHORT_STAFF),
    ("GET", "/cohorts/{cohort}/recomputes/{recompute}", None, COHORT_STAFF),
    *[
        (
            method,
            "/cohorts/{cohort}/assignments/{assignment}/extensions/{student}",
            "extension",
            cells(401, 403, 403, OK, 403, 403),
        )
        for method in ("PUT", "PATCH")
    ],
    ("POST", "/similarity/reports", "similarity", SIMILARITY),
    ("GET", "/similarity/reports?cohort={similar_cohort}", None, SIMILARITY),
    ("GET", "/similarity/reports/{report}", None, SIMILARITY),
    ("GET", "/similarity/reports/{report}/export", None, SIMILARITY),
    ("GET", "/similarity/reports/{report}/pairs/1", None, SIMILARITY),
    ("PUT", "/similarity/reports/{report}/pairs/1/review", "review", SIMILARITY),
    ("POST", "/similarity/reports/{report}/cancel", None, SIMILARITY),  # completed: a 409
    ("POST", "/regrades", "regrade", cells(401, 403, 403, OK, 403, 403)),
    ("GET", "/regrades", None, INSTRUCTORS),
    ("GET", "/regrades/{batch}", None, COHORT_INSTRUCTOR),
    ("GET", "/regrades/{batch}/changes", None, COHORT_INSTRUCTOR),
    ("POST", "/regrades/{batch}/pause", None, COHORT_INSTRUCTOR),
    ("POST", "/regrades/{batch}/resume", None, COHORT_INSTRUCTOR),
    ("POST", "/regrades/{batch}/cancel", None, COHORT_INSTRUCTOR),
    ("GET", "/ops/workflows", None, OPERATORS),
    ("GET", "/ops/workflows/{workflow}", None, OPERATORS),
    ("GET", "/ops/problems", None, OPERATORS),
    ("GET", "/ops/metrics", None, OPERATORS),
    ("POST", "/ops/workflows/{workflow}/retry", None, OPERATORS),
    ("GET", "/lti/urls", None, OPERATORS),
    ("GET", "/lti/platforms", None, OPERATORS),
    ("GET", "/lti/grades", None, OPERATORS),
    # demo did not come from an LMS: its instructor and operators are answered 409 (no roster there)
    ("GET", "/lti/rosters/{cohort}", None, cells(401, 403, 403, OK, 403, OK)),
    ("POST", "/lti/rosters/{cohort}", None, cells(401, 403, 403, OK, 403, OK)),
    ("POST", "/lti/platforms", "platform", OPERATORS),
    # Anyone may try a launch's one-time code (the dashboard does, for a browser not yet signed in): a wrong one
    # is not found, whoever asks
    ("POST", "/lti/sessions", "handoff", cells(404, 404, 404, 404, 404, 404)),
    (
        "POST",
        "/ops/workflows/{workflow}/terminate",
        "terminate",
        cells(401, 403, 403, 403, 403, 404),
    ),
]


@pytest.fixture(scope="module")
def world(own_stack: Stack) -> dict:
    """The principals and the resources the matrix acts on: a graded submission of the owner in the demo cohort
    (taught by ada), a regrade batch of a cohort ada teaches, and an instructor of a second course: a cohort
    offered the same assignments (ada teaches it too, so she teaches every cohort they are offered to)."""
    from gradeflow.accounts import add_cohort, add_user

    def enroll_ada(slug: str) -> None:
        own_stack.sql_write(
            "INSERT INTO enrollments (user_id, cohort_id) SELECT u.id, c.id FROM users u, cohorts c "
            "WHERE u.name = 'ada' AND c.slug = :slug",
            slug=slug,
        )

    other_cohort = f"other-{uuid.uuid4().hex[:6]}"
    own_stack.db(lambda s: add_cohort(s, other_cohort))  # offered the whole course, as demo is
    other_instructor = own_stack.db(
        lambda s: add_user(s, f"teacher-{other_cohort}", "instructor", other_cohort)
    )[1]
    enroll_ada(other_cohort)
    # Copies go to a cohort both instructors teach, offered nothing else: the matrix's copies change no
    # other cohort's assignments
    copy_cohort = f"copies-{uuid.uuid4().hex[:6]}"
    own_stack.db(lambda s: add_cohort(s, copy_cohort, offer_course=False))
    enroll_ada(copy_cohort)
    own_stack.sql_write(
        "INSERT INTO enrollments (user_id, cohort_id) SELECT u.id, c.id FROM users u, cohorts c "
        "WHERE u.name = :name AND c.slug = :slug",
        name=f"teacher-{other_cohort}",
        slug=copy_cohort,
    )
    leaver = own_stack.db(lambda s: add_user(s, f"leaver-{other_cohort}", "student", "demo"))[0]
    with own_stack.client(own_stack.tokens["ada"]) as c:
        # The fuzzing above may have given demo's first assignment any terms (closed, released later,
        # one submission): back to none but a due date far ahead (an extension needs one), so the owner can
        # submit. A field left out would keep its value: each is cleared by an explicit null.
        c.put(
            "/cohorts/demo/assignments/1",
            json={
                "release_at": None,
                "due_at": "2098-01-01T00:00:00Z",
                "close_at": None,
                "late_windows": None,
                "max_submissions": None,
                "min_minutes_between": None,
            },
        ).raise_for_status()
    owner = own_stack.new_user()
    sub = submit(own_stack, owner, unique(RIGHT_HELLO)).json()
    own_stack.wait_graded(owner, sub["id"])
    # A regrade batch of a cohort of ada's own, so the fuzzing's regrades of demo (any sizes, paused, cancelled,
    # their workflows terminated) cannot hold the matrix up: empty, it completes at once.
    batch_cohort = f"matrix-{uuid.uuid4().hex[:6]}"
    own_stack.db(lambda s: add_cohort(s, batch_cohort, offer_course=False))
    enroll_ada(batch_cohort)
    with own_stack.client(own_stack.tokens["ada"]) as c:
        started = c.post("/regrades", json={"cohort": batch_cohort})
        assert started.status_code == 202, started.text
        batch_id = started.json()["id"]
        wait_for(
            lambda: c.get(f"/regrades/{batch_id}").json()["status"] == "completed",
            120,
            "the matrix's regrade batch to complete",
        )
    # A similarity report with a pair, in a cohort of ada's own.
    similar_cohort = f"similar-{uuid.uuid4().hex[:6]}"
    own_stack.db(lambda s: add_cohort(s, similar_cohort))
    own_stack.db(
        lambda s: synthetic_cohort(
            s,
            similar_cohort,
            2,
            {1: [Answer(STARTER + ORIGINAL, True, 1.0), Answer(STARTER + RENAMED, True, 1.0)]},
        )
    )
    enroll_ada(similar_cohort)
    with own_stack.client(own_stack.tokens["ada"]) as c:
        started = c.post("/similarity/reports", json={"cohort": similar_cohort, "assignment_id": 1})
        assert started.status_code == 202, started.text
        report = started.json()["id"]
        wait_for(
            lambda: c.get(f"/similarity/reports/{report}").json()["pairs"],
            120,
            "the matrix's similarity report to complete with its pair",
        )
    owner_name = own_stack.sql("SELECT name FROM users WHERE token_hash = :h", h=hash_token(owner))[
        0
    ][0]
    with own_stack.client(own_stack.tokens["ada"]) as c:
        # The owner's graded submission is recounted: a recompute to read
        recompute = c.put(
            f"/cohorts/demo/assignments/1/extensions/{owner_name}",
            json={"due_at": "2099-01-01T00:00:00Z", "reason": "authorization matrix"},
        ).json()["recompute"]["id"]
    return {
        "tokens": {
            "anonymous": None,
            "owner": owner,
            "other_student": own_stack.new_user(),
            "instructor": own_stack.tokens["ada"],
            "other_instructor": other_instructor,
            "operator": own_stack.tokens["otto"],
        },
        "ids": {
            "assignment": 1,
            "submission": sub["id"],
            "workflow": f"grade-{sub['id']}",
            "batch": batch_id,
            "cohort": "demo",
            "student": owner_name,
            "recompute": recompute,
            "similar_cohort": similar_cohort,
            "report": report,
            "leaver": leaver.name,
            "leaver_id": leaver.id,
            "copy_cohort": copy_cohort,
        },
    }


def body_for(kind: str | None) -> dict | None:
    tests = "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        self.assertTrue(True)\n"
    return {
        None: None,
        "check": {"test_code": tests, "reference_solution": "x = 1"},
        "new_assignment": {
            "title": "Matrix",
            "slug": f"matrix-{uuid.uuid4().hex[:8]}",
            "order": 1000,
            "test_code": tests,
        },
        "edit": {"handout": "Print Hello."},  # harmless: test_code unchanged
        "copy": {"cohort": ""},  # the world's copy_cohort
        "choose_demo": {"cohort": "demo"},
        "member": {"who": "alice", "role": "student"},  # in demo already: nothing changes
        "leave": None,
        "code": {"code": unique(RIGHT_HELLO)},
        "regrade": {"cohort": "demo", "assignment_id": 1},
        "terminate": {"reason": "authorization matrix"},
        "roster": {"csv": f"name\nmatrix-{uuid.uuid4().hex[:8]}\n"},
        "offering": {},  # no dates: as the demo course is
        "extension": {"due_at": "2099-01-01T00:00:00Z", "reason": "authorization matrix"},
        "similarity": {"cohort": "", "assignment_id": 1},  # the world's similar_cohort
        "review": {"review": "flagged", "note": "authorization matrix"},
        "platform": {
            "name": f"matrix-{uuid.uuid4().hex[:8]}",
            "issuer": f"https://lms-{uuid.uuid4().hex[:8]}.example",
            "client_id": "matrix",
            "auth_login_url": "https://lms.example/auth",
            "auth_token_url": "https://lms.example/token",
            "key_set_url": "https://lms.example/jwks",
            "deployment_ids": ["1"],
        },
        "handoff": {"code": "not-a-code"},
    }[kind]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(
    "method, path, body, expected", ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES]
)
def test_authorization_matrix(own_stack: Stack, world: dict, method, path, body, expected, who):
    token = world["tokens"][who]
    if who in ("owner", "other_student") and body == "code":
        # One pending submission per student: a fresh one for each submit
        token = own_stack.new_user()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = own_stack.api_url + "/api/v1" + path.format(**world["ids"])
    with httpx.Client(timeout=60) as c:
        payload = body_for(body)
        if body == "similarity":
            payload = {**payload, "cohort": world["ids"]["similar_cohort"]}
        if body == "copy":
            payload = {"cohort": world["ids"]["copy_cohort"]}
        if body == "leave":  # back in demo, whoever took them out before
            own_stack.sql_write(
                "INSERT INTO enrollments (user_id, cohort_id) SELECT :id, id FROM cohorts "
                "WHERE slug = 'demo' ON CONFLICT DO NOTHING",
                id=world["ids"]["leaver_id"],
            )
        response = c.request(method, url, json=payload, headers=headers)
    want = expected[who]
    if want == OK:
        assert 200 <= response.status_code < 300 or response.status_code in (409, 429), (
            who,
            response.text,
        )
    else:
        assert response.status_code == want, (who, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")


def test_the_matrix_covers_every_operation(own_stack: Stack):
    import re

    spec = httpx.get(f"{own_stack.api_url}/openapi.json", timeout=30).json()
    prefix = "/api/v1"

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}|\d+", "{}", path.removeprefix(prefix).split("?")[0])

    operations = {
        (method.upper(), shape(path))
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert operations == {(m, shape(p)) for m, p, _, _ in ROUTES}
