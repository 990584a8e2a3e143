"""Pure logic: content hashes, scoring, error messages, settings."""

from __future__ import annotations

from activities.grading import score_of
from api.errors import validation_message
from gradeflow import versions
from gradeflow.settings import Settings


def test_test_version_changes_with_tests_cases_and_limits_only():
    base = versions.test_version("tests", [], {"cpu_seconds": 2})
    assert base == versions.test_version("tests", [], {"cpu_seconds": 2})
    assert base != versions.test_version("tests2", [], {"cpu_seconds": 2})
    assert base != versions.test_version("tests", [{"stdin": "1"}], {"cpu_seconds": 2})
    assert base != versions.test_version("tests", [], {"cpu_seconds": 3})


def test_code_hash_is_exact():
    assert versions.code_hash("a") == versions.code_hash("a") != versions.code_hash("a ")


def test_score_is_the_passed_fraction_of_points():
    tests = [{"passed": True}, {"passed": False}, {"passed": True}, {"passed": True}]
    assert score_of(tests, 100) == 75
    assert score_of([], 100) == 0
    weighted = [{"passed": True, "points": 1}, {"passed": False, "points": 3}]
    assert score_of(weighted, 100) == 25


def test_validation_messages_read_as_sentences():
    assert (
        validation_message([{"type": "missing", "loc": ("body", "code"), "msg": "Field required"}])
        == "code is required."
    )
    assert validation_message(
        [
            {
                "type": "json_invalid",
                "loc": ("body", 3),
                "msg": "JSON decode error",
                "ctx": {"error": "Expecting value"},
            }
        ]
    ).startswith("The request body is not valid JSON")


def test_unset_services_come_from_a_running_up(tmp_path, monkeypatch):
    for var in ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS"):
        monkeypatch.delenv(f"GRADEFLOW_{var}", raising=False)
    (tmp_path / "runtime.json").write_text(
        '{"database_url": "postgresql://x/y", "redis_url": "redis://r"}'
    )
    settings = Settings(home=tmp_path, redis_url="redis://configured").with_runtime()
    assert settings.database_url == "postgresql://x/y"
    assert settings.redis_url == "redis://configured", "a configured service wins"
    assert settings.temporal_address is None
