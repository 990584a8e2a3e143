"""The shared core's pure logic: content hashes, settings from a running `gradeflow up`, the forward-only status
rank, the vocabulary."""

from __future__ import annotations

import time

import orjson

from gradeflow import versions
from gradeflow.settings import Settings, running_file
from gradeflow.status_cache import (
    CLOCK_SKEW_SECONDS,
    TRUST_SECONDS,
    WRITTEN,
    from_cache,
    moved_on,
    rank,
    stamped,
    trusted,
)
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


def test_without_a_home_the_cli_finds_the_up_running_on_this_machine(tmp_path, monkeypatch):
    """From any directory: the home a running `gradeflow up` noted in $XDG_STATE_HOME/gradeflow/running.json,
    while its process lives and its runtime.json is there."""
    import json
    import os

    for var in ("HOME", "DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS", "API_URL"):
        monkeypatch.delenv(f"GRADEFLOW_{var}", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)  # no ./.gradeflow here
    home = tmp_path / "clone" / ".gradeflow"
    home.mkdir(parents=True)
    (home / "runtime.json").write_text(
        '{"database_url": "postgresql://x/y", "api_url": "http://h:9"}'
    )
    assert running_file() == tmp_path / "state" / "gradeflow" / "running.json"
    running_file().parent.mkdir(parents=True)
    running_file().write_text(json.dumps({"home": str(home), "pid": os.getpid()}))
    found = Settings().with_runtime()
    assert (found.home, found.database_url, found.resolved_api_url) == (
        home,
        "postgresql://x/y",
        "http://h:9",
    )
    # GRADEFLOW_HOME, when set, is where to look, and only there
    monkeypatch.setenv("GRADEFLOW_HOME", str(tmp_path / "elsewhere"))
    assert Settings().with_runtime().database_url is None
    monkeypatch.delenv("GRADEFLOW_HOME")
    # An `up` that is gone is not followed
    running_file().write_text(json.dumps({"home": str(home), "pid": 2**22 + 12345}))
    assert Settings().with_runtime().database_url is None


def test_every_command_says_its_options_and_their_defaults():
    import argparse

    from gradeflow.launch.cli import HelpFormatter, build_parser, version

    def commands(parser: argparse.ArgumentParser, prefix: str = "gradeflow"):
        yield prefix, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from commands(sub, f"{prefix} {name}")

    found = dict(commands(build_parser()))
    assert {"gradeflow up", "gradeflow submit", "gradeflow cohorts enroll"} <= set(found)
    for name, parser in found.items():
        assert parser.description, f"{name} --help says nothing of what it does"
        for action in parser._actions:
            if action.option_strings and action.dest not in ("help", "version"):
                assert action.help, f"{name} {action.option_strings[0]} has no help"
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                # this option's own help says its default (not merely some option's)
                own = HelpFormatter("gradeflow")._get_help_string(action) % vars(action)
                assert "default" in own, f"{name} {action.option_strings[0]}: {own!r}"
    up_help = found["gradeflow up"].format_help()
    assert "--api-port" in up_help and "(default: 8000)" in up_help
    assert "(default: 20)" in found["gradeflow similarity"].format_help()
    assert version() != "unknown"


def test_a_status_only_moves_forward():
    assert [rank(s) for s in ("queued", "grading", "graded", "error")] == [0, 1, 2, 2]
    assert moved_on({"status": "queued"}, {"status": "grading"})
    assert not moved_on({"status": "graded"}, {"status": "grading"})
    assert not moved_on({"status": "graded"}, None)


def test_a_pending_status_is_trusted_only_young_and_written_after_the_last_doubt():
    payload = stamped({"id": "x", "status": "grading"})
    shown, written = from_cache(orjson.dumps(payload))
    assert shown == {"id": "x", "status": "grading"}, "the stamp is never shown"
    assert abs(written - time.time()) < 5
    assert trusted(written, doubted_since=0.0)
    assert not trusted(written, doubted_since=written), "written before (or at) the doubt"
    assert not trusted(written, doubted_since=written - CLOCK_SKEW_SECONDS / 2), (
        "within the clocks' skew"
    )
    assert trusted(written, doubted_since=written - CLOCK_SKEW_SECONDS - 1)
    assert not trusted(time.time() - TRUST_SECONDS - 1, doubted_since=0.0), (
        "too old: ask PostgreSQL"
    )
    assert from_cache(b'{"id": "x", "status": "queued"}')[1] == 0.0, "unstamped: never trusted"
    assert not trusted(0.0, doubted_since=0.0)
    assert WRITTEN not in from_cache(orjson.dumps(payload))[0]


def test_every_status_is_in_exactly_one_group():
    assert sorted(PENDING_STATUSES + FINAL_STATUSES) == sorted(SubmissionStatus)
    assert sorted(BATCH_ACTIVE + BATCH_ENDED) == sorted(BatchStatus)
    assert not set(BATCH_ACTIVE) & set(BATCH_ENDED)


def test_a_prepared_statement_takes_sqlalchemys_named_parameters_in_asyncpgs_order():
    import pytest
    from sqlalchemy import text

    from gradeflow.db import Prepared

    stmt = text("SELECT :b, :a, :fixed, :b").bindparams(fixed="set by the statement")
    prepared = Prepared(stmt)
    assert prepared.sql == "SELECT $1, $2, $3::VARCHAR, $1"
    assert prepared.arguments({"a": 1, "b": 2}) == [2, 1, "set by the statement"]
    with pytest.raises(KeyError, match=r"missing parameters \['a'\]"):
        prepared.arguments({"b": 2})
