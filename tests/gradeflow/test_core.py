"""The shared core's pure logic: content hashes, settings from a running `gradeflow up`, the forward-only status
rank, the vocabulary."""

from __future__ import annotations

from gradeflow import versions
from gradeflow.settings import Settings
from gradeflow.status_cache import moved_on, rank
from gradeflow.vocabulary import (
    BATCH_ACTIVE,
    BATCH_ENDED,
    FINAL_STATUSES,
    PENDING_STATUSES,
    BatchStatus,
    SubmissionStatus,
)


def test_test_version_changes_with_tests_cases_and_limits_only():
    base = versions.test_version("tests", [], {"cpu_seconds": 2})
    assert base == versions.test_version("tests", [], {"cpu_seconds": 2})
    assert base != versions.test_version("tests2", [], {"cpu_seconds": 2})
    assert base != versions.test_version("tests", [{"stdin": "1"}], {"cpu_seconds": 2})
    assert base != versions.test_version("tests", [], {"cpu_seconds": 3})


def test_code_hash_is_exact():
    assert versions.code_hash("a") == versions.code_hash("a") != versions.code_hash("a ")


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


def test_a_status_only_moves_forward():
    assert [rank(s) for s in ("queued", "grading", "graded", "error")] == [0, 1, 2, 2]
    assert moved_on({"status": "queued"}, {"status": "grading"})
    assert not moved_on({"status": "graded"}, {"status": "grading"})
    assert not moved_on({"status": "graded"}, None)


def test_every_status_is_in_exactly_one_group():
    assert sorted(PENDING_STATUSES + FINAL_STATUSES) == sorted(SubmissionStatus)
    assert sorted(BATCH_ACTIVE + BATCH_ENDED) == sorted(BatchStatus)
    assert not set(BATCH_ACTIVE) & set(BATCH_ENDED)
