"""The sign-in cookie's rules (pure logic; the routes themselves are tested over HTTP in tests/browser)."""

from __future__ import annotations

from dashboard import session


def test_only_this_dashboards_pages_may_post_the_form():
    assert session.same_origin("http://127.0.0.1:8501", "127.0.0.1:8501")
    assert session.same_origin("https://Grades.Example.edu", "grades.example.edu")
    assert session.same_origin(None, "127.0.0.1:8501")  # curl, old browsers: no Origin at all
    assert not session.same_origin("https://evil.example", "grades.example.edu")
    assert not session.same_origin("http://127.0.0.1:9999", "127.0.0.1:8501")
    assert not session.same_origin("null", "127.0.0.1:8501")  # sandboxed frames, data: URLs


def test_a_token_is_taken_as_pasted_or_refused():
    assert session.clean_token("  gf_abc\n") == "gf_abc"
    assert session.clean_token("") is None and session.clean_token("   ") is None
    assert session.clean_token("gf_" + "x" * 300) is None
    assert session.clean_token("gf_\x00abc") is None and session.clean_token("gf_é") is None


def test_the_cookie_is_http_only_and_secure_over_https():
    remembered = session.cookie_for(remember=True, scheme="https").attributes()
    assert remembered["httponly"] and remembered["secure"] and remembered["samesite"] == "lax"
    assert remembered["max_age"] == session.REMEMBER_DAYS * 86400 and remembered["path"] == "/"
    for_now = session.cookie_for(remember=False, scheme="http").attributes()
    assert for_now["max_age"] is None and not for_now["secure"]


def test_the_page_escapes_what_it_shows_and_paths_follow_the_base_url():
    page = session.sign_in_page("/gradeflow/sign-in", problem="<b>bad</b>")
    assert "&lt;b&gt;bad&lt;/b&gt;" in page and "<b>bad" not in page
    assert session.url_path("", session.SIGN_IN_PATH) == "/gradeflow/sign-in"
    assert session.url_path("/courses/", session.SIGN_OUT_PATH) == "/courses/gradeflow/sign-out"
    assert session.url_path("courses", "") == "/courses/"
