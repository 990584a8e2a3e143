"""The API's own metrics and probes (issue #14): /metrics counts requests by route template and status, with their
latency, across every API process; /livez and /readyz answer without details."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Stack

pytestmark = pytest.mark.integration


def scrape(stack: Stack) -> dict[tuple[str, tuple], float]:
    r = httpx.get(f"{stack.api_url}/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def requests(samples, route: str, status: str, method: str = "GET") -> float:
    key = (
        "gradeflow_api_requests_total",
        (("method", method), ("route", route), ("status", status)),
    )
    return samples.get(key, 0.0)


def test_metrics_count_requests_by_route_template_and_status(stack: Stack):
    before = scrape(stack)
    student = stack.new_user()
    unknown = str(uuid.uuid4())
    with stack.client(student) as c:
        for _ in range(5):  # spread over the API's processes by the kernel
            assert c.get("/assignments").status_code == 200
        assert c.get(f"/submissions/{unknown}").status_code == 404
    assert httpx.get(f"{stack.api_url}/api/v1/me", timeout=10).status_code == 401
    assert httpx.get(f"{stack.api_url}/no/such/page", timeout=10).status_code == 404
    after = scrape(stack)

    assert (
        requests(after, "/api/v1/assignments", "200")
        - requests(before, "/api/v1/assignments", "200")
        == 5
    )
    one = "/api/v1/submissions/{submission_id}"
    assert requests(after, one, "404") - requests(before, one, "404") == 1, (
        "the template, not the path"
    )
    assert requests(after, "/api/v1/me", "401") - requests(before, "/api/v1/me", "401") == 1
    assert requests(after, "unmatched", "404") - requests(before, "unmatched", "404") == 1
    assert not any(unknown in str(k) for k in after)  # no raw ids as labels
    count = (
        "gradeflow_api_request_duration_seconds_count",
        (("method", "GET"), ("route", "/api/v1/assignments")),
    )
    assert after[count] - before.get(count, 0.0) == 5
    assert any(name == "gradeflow_api_request_duration_seconds_bucket" for name, _ in after)


def test_the_probes_answer_without_details(stack: Stack):
    live = httpx.get(f"{stack.api_url}/livez", timeout=10)
    ready = httpx.get(f"{stack.api_url}/readyz", timeout=10)
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    schema = httpx.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    assert not {"/livez", "/readyz", "/metrics"} & set(schema["paths"])


def test_a_submission_is_answered_alike_ahead_of_fastapi_and_by_its_route(stack: Stack):
    """A body of code alone with a known token is accepted in plain ASGI ahead of FastAPI
        (api/routes/submissions/fast.py); one sent as `application/vnd.example+json` (JSON to FastAPI, not to the plain
    path) goes through the route. Both answer the same,
        and /metrics counts both under the route's template."""
    route = "/api/v1/assignments/{assignment_id}/submissions"
    routed_type = "application/vnd.example+json"  # JSON to FastAPI, not to the plain path
    token = stack.new_user()
    before = scrape(stack)
    body = b'{"code": "def hello():\\n    return 1\\n"}'
    with stack.client(token) as c:
        c.get("/me").raise_for_status()  # the token known to at least one process
        fast, routed = (
            c.post(
                "/assignments/999999/submissions",
                content=body,
                headers={"content-type": kind},
            )
            for kind in ("application/json", routed_type)
        )
        accepted = c.post(
            "/assignments/1/submissions", json={"code": "def hello():\n    return 2\n"}
        )
        again = c.post(
            "/assignments/1/submissions", content=body, headers={"content-type": routed_type}
        )
    assert fast.status_code == routed.status_code == 404
    assert fast.json() == routed.json()
    assert "does not exist" in fast.json()["detail"]
    assert accepted.status_code == 202, accepted.text
    assert (
        again.status_code == 409 and again.json()["pending_submission_id"] == accepted.json()["id"]
    )
    after = scrape(stack)
    for status, n in (("404", 2), ("202", 1), ("409", 1)):
        assert requests(after, route, status, "POST") - requests(before, route, status, "POST") == n
    stack.wait_graded(token, accepted.json()["id"])
