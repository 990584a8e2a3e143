"""Page logic with Streamlit's AppTest: role routing and error states (issue #5, acceptance 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import session
from dashboard.instructor import parse_windows
from dashboard.routing import pages_for
from gradeflow.launch.embedded import free_port

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def test_each_role_gets_its_own_pages():
    assert [p.title for p in pages_for("student")] == ["Assignments"]
    assert [p.title for p in pages_for("instructor")] == [
        "Cohort",
        "Regrades",
        "Assignments",
        "Dates",
        "Similarity",
    ]
    assert [p.title for p in pages_for("operator")] == [
        "Workflows",
        "Failed and stuck",
        "Metrics",
        "LMS",
    ]
    assert pages_for("nobody") == []
    for role in ("student", "instructor", "operator"):
        for spec in pages_for(role):
            module = __import__(spec.module, fromlist=[spec.function])
            assert callable(getattr(module, spec.function)), spec


def signed_in(monkeypatch, api_url: str, token: str) -> AppTest:
    """The app as a browser carrying the sign-in cookie sees it (AppTest cannot send cookies)."""
    monkeypatch.setenv("GRADEFLOW_API_URL", api_url)
    monkeypatch.setattr(session, "current_token", lambda: token)
    return AppTest.from_file(APP, default_timeout=30).run()


def links(at: AppTest) -> list[str]:
    return [e.proto.body for e in at.get("html")]


def test_before_sign_in_it_asks_for_a_token(monkeypatch):
    monkeypatch.setenv("GRADEFLOW_API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(session, "current_token", lambda: None)  # no cookie
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "Sign in with your API token" in at.info[0].value
    assert any('href="/gradeflow/sign-in"' in link for link in links(at))


def test_api_down_is_a_message_not_a_traceback(monkeypatch):
    at = signed_in(monkeypatch, f"http://127.0.0.1:{free_port()}", "gf_anything")
    assert not at.exception
    assert "is not reachable" in at.error[0].value and "Is it running?" in at.error[0].value


@pytest.mark.integration
def test_wrong_token_is_a_message(monkeypatch, stack):
    at = signed_in(monkeypatch, stack.api_url, "gf_wrong-token")
    assert not at.exception
    assert "That token was not accepted" in at.error[0].value


@pytest.mark.integration
@pytest.mark.parametrize(
    "who,expected", [("student", "Hello"), ("ada", "Cohort"), ("otto", "Workflows")]
)
def test_each_role_lands_on_its_main_page(monkeypatch, stack, who, expected):
    token = stack.new_user() if who == "student" else stack.tokens[who]
    at = signed_in(monkeypatch, stack.api_url, token)
    assert not at.exception, at.exception
    texts = [t.value for t in at.title] + [m.value for m in at.markdown]
    assert any(expected in t for t in texts), texts
    assert any("Signed in as" in c.value for c in at.sidebar.caption)


@pytest.mark.integration
def test_sign_out_is_offered_at_once(monkeypatch, stack):
    at = signed_in(monkeypatch, stack.api_url, stack.tokens["ada"])
    assert any('href="/gradeflow/sign-out"' in link and "Sign out" in link for link in links(at))


def test_the_dashboard_reads_late_windows_as_instructors_write_them():
    assert parse_windows("72h=25%, 24h = 50 %") == [
        {"hours": 24.0, "credit": 0.5},
        {"hours": 72.0, "credit": 0.25},
    ]
    assert parse_windows("  ") == []
    assert parse_windows("24h=50") is None and parse_windows("one day=50%") is None


def test_a_pair_side_by_side_marks_each_shared_fragment_and_escapes_the_code():
    from dashboard.similarity import FRAGMENT_COLOURS, highlighted

    code = "import os\n\ndef f(x):\n    return x < 1\n"
    fragments = [
        {"a": [3, 4], "b": [1, 2], "fingerprints": 3},
        {"a": [1, 1], "b": [5, 5], "fingerprints": 1},
    ]
    page = highlighted(code, fragments, "a")
    assert page.count('data-shared="1"') == 3
    assert (
        f"background:{FRAGMENT_COLOURS[0]}" in page and f"background:{FRAGMENT_COLOURS[1]}" in page
    )
    assert "x &lt; 1" in page and "x < 1" not in page
