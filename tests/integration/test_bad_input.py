"""Every bad input is a 4xx whose message says what to fix, never a 500: NUL characters, integers beyond
PostgreSQL's, explicit nulls where a value is required, unbounded durations, oversized headers and bodies."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import Stack
from tests.integration.test_submission_path import RIGHT_HELLO, unique

pytestmark = pytest.mark.integration

NUL = "must not contain NUL characters"
TOO_BIG = 2**31
PY_TESTS = "import unittest\nclass T(unittest.TestCase):\n    def test_x(self):\n        self.assertTrue(True)\n"


def detail(response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()["detail"]


@pytest.mark.parametrize(
    "role, method, path, body, status, message",
    [
        # NUL characters, wherever text reaches PostgreSQL
        (
            "student",
            "POST",
            "/assignments/1/submissions",
            {"code": "print('a')\x00"},
            422,
            f"code: Value error, {NUL}",
        ),
        (
            "ada",
            "POST",
            "/assignments",
            {"title": "T", "handout": "a\x00b", "test_code": PY_TESTS},
            422,
            f"handout: Value error, {NUL}",
        ),
        (
            "ada",
            "POST",
            "/assignments",
            {"title": "T", "io_cases": [{"stdin": "\x00", "stdout": "x"}]},
            422,
            f"io_cases.0.stdin: Value error, {NUL}",
        ),
        ("ada", "PUT", "/assignments/1", {"handout": "\x00"}, 422, f"handout: Value error, {NUL}"),
        ("ada", "GET", "/cohorts/de%00mo/matrix", None, 422, f"slug: Value error, {NUL}"),
        ("ada", "POST", "/regrades", {"cohort": "de\x00mo"}, 422, f"cohort: Value error, {NUL}"),
        ("otto", "GET", "/ops/workflows?cohort=a%00b", None, 422, f"cohort: Value error, {NUL}"),
        ("otto", "GET", "/ops/workflows/grade-%00", None, 422, f"workflow_id: Value error, {NUL}"),
        # integers beyond PostgreSQL's int32, in path, query and body
        (
            "student",
            "GET",
            f"/assignments/{TOO_BIG}",
            None,
            422,
            "assignment_id: Input should be less than or equal",
        ),
        (
            "student",
            "POST",
            f"/assignments/{TOO_BIG}/submissions",
            {"code": "x = 1"},
            422,
            "assignment_id: Input should be less than or equal",
        ),
        (
            "student",
            "GET",
            "/me/submissions?assignment_id=-19759124232",
            None,
            422,
            "assignment_id: Input should be greater than or equal to 1",
        ),
        (
            "otto",
            "GET",
            f"/ops/workflows?user_id={TOO_BIG}",
            None,
            422,
            "user_id: Input should be less than or equal",
        ),
        (
            "ada",
            "POST",
            "/assignments",
            {"title": "T", "test_code": PY_TESTS, "order": TOO_BIG},
            422,
            "order: Input should be less than or equal",
        ),
        (
            "ada",
            "PUT",
            "/assignments/1",
            {"order": -TOO_BIG},
            422,
            "order: Input should be greater than or equal",
        ),
        (
            "ada",
            "POST",
            "/regrades",
            {"cohort": "demo", "assignment_id": TOO_BIG},
            422,
            "assignment_id: Input should be less than or equal",
        ),
        # explicit nulls where a value is required
        *[
            (
                "ada",
                "PUT",
                "/assignments/1",
                {name: None},
                422,
                f"{name}: Value error, cannot be null: leave the field out to keep its current value",
            )
            for name in ("title", "handout", "test_code", "points", "order", "io_cases", "limits")
        ],
        # bounded durations
        (
            "otto",
            "GET",
            f"/ops/problems?stuck_after_seconds={10**11}",
            None,
            422,
            "stuck_after_seconds: Input should be less than or equal to 2592000",
        ),
    ],
)
def test_bad_input_is_a_4xx_that_says_what_to_fix(
    stack: Stack, role, method, path, body, status, message
):
    token = stack.new_user() if role == "student" else stack.tokens[role]
    with stack.client(token) as c:
        response = c.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert detail(response).startswith(message), detail(response)


@pytest.mark.parametrize(
    "role, method, path, raw, field",
    [
        # JSON's "\ud800" escapes decode to lone surrogates, which have no UTF-8 form: PostgreSQL's driver would
        # fail on them (a 500) if they got that far
        (
            "ada",
            "PUT",
            "/assignments/1",
            rb'{"handout": "a\ud800b"}',
            "handout",
        ),
        (
            "ada",
            "PATCH",
            "/assignments/1",
            rb'{"title": "\udfff"}',
            "title",
        ),
        (
            "ada",
            "POST",
            "/assignments",
            rb'{"title": "T", "io_cases": [{"stdin": "", "stdout": "\ud83d"}]}',
            "io_cases.0.stdout",
        ),
        (
            "student",
            "POST",
            "/assignments/1/submissions",
            rb'{"code": "x = \"\ud800\""}',
            "code",
        ),
        (
            "ada",
            "POST",
            "/cohorts/demo/roster",
            rb'{"csv": "name\n\ud800"}',
            "csv",
        ),
        (
            "ada",
            "PUT",
            "/cohorts/demo/assignments/1/extensions/alice",
            rb'{"due_at": "2099-01-01T00:00:00Z", "reason": "\udc00"}',
            "reason",
        ),
        ("ada", "POST", "/regrades", rb'{"cohort": "\ud800"}', "cohort"),
        (
            "student",
            "PUT",
            "/me/cohort",
            rb'{"cohort": "\ud800"}',
            "cohort",
        ),
        (
            "otto",
            "POST",
            "/cohorts/demo/members",
            rb'{"who": "\ud800"}',
            "who",
        ),
    ],
)
def test_text_postgresql_cannot_store_is_a_422_naming_the_field(
    stack: Stack, role, method, path, raw, field
):
    token = stack.new_user() if role == "student" else stack.tokens[role]
    with stack.client(token) as c:
        response = c.request(
            method, path, content=raw, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422, response.text
    # The field named; the words are ours at the top level ("must be valid Unicode text: character 2 is a lone
    # surrogate …") and pydantic's inside lists ("unable to parse raw data as a unicode string")
    assert detail(response).startswith(f"{field}: "), detail(response)
    assert "Unicode" in detail(response) or "unicode" in detail(response), detail(response)


def test_update_with_a_null_reference_solution_removes_it(stack: Stack):
    """The one field that may be null: it means "no reference solution"."""
    with stack.client(stack.tokens["ada"]) as c:
        created = c.post(
            "/assignments",
            json={
                "title": "Null ref",
                "test_code": PY_TESTS,
                "order": 1000,
                "reference_solution": "x = 1",
            },
        )
        assert created.status_code == 201, created.text
        updated = c.put(f"/assignments/{created.json()['id']}", json={"reference_solution": None})
    assert updated.status_code == 200, updated.text
    assert updated.json()["reference_solution"] is None


def raw_request(stack: Stack, request: bytes) -> bytes:
    """Send bytes as they are (httpx would refuse some of these requests) and read the whole answer."""
    host, port = stack.api_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_oversized_headers_are_431(stack: Stack):
    with stack.client(stack.new_user()) as c:
        response = c.get("/assignments", headers={"X-Padding": "a" * 100_000})
    assert response.status_code == 431
    assert "the limit is 32,768 bytes" in detail(response)


def test_a_chunked_body_over_the_limit_is_413(stack: Stack):
    token = stack.new_user()

    def chunks():
        yield b'{"code": "'
        for _ in range(40):
            yield b"#" * 65536
        yield b'"}'

    with stack.client(token) as c:
        response = c.post(
            "/assignments/1/submissions",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert "content-length" not in response.request.headers  # it went chunked
        assert response.status_code == 413, response.text
        assert detail(response).startswith("Request body is over")
        assert "the limit is 1,048,576 bytes" in detail(response)
        assert "The code of a submission may be at most 64 KiB" in detail(response)
        # and a chunked body under the limit still works
        encoded = json.dumps({"code": unique(RIGHT_HELLO)}).encode()
        small = c.post(
            "/assignments/1/submissions",
            content=iter([encoded[:10], encoded[10:]]),
            headers={"content-type": "application/json"},
        )
    assert small.status_code in (201, 202), small.text


def test_an_unknown_route_and_method_answer_json(stack: Stack):
    with stack.client(stack.new_user()) as c:
        missing, wrong = c.get("/no-such-thing"), c.delete("/assignments")
    assert (missing.status_code, detail(missing)) == (404, "Not Found")
    assert (wrong.status_code, detail(wrong)) == (405, "Method Not Allowed")
