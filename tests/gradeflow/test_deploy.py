"""docker-compose.yml and the Dockerfile, checked as files (issue #14; there is no Docker engine here): valid
against the Compose specification's schema, and the invariants an operator relies on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
ONE_SHOT = {name for name, s in SERVICES.items() if s.get("restart") == "no"}
SECRET_WORDS = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEY|DATABASE_URL", re.I)


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_the_file_is_valid_against_the_compose_specification():
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_long_running_service_has_a_healthcheck_and_rotated_logs():
    assert ONE_SHOT == {"temporal-schema", "temporal-namespace", "migrate"}
    for name, service in SERVICES.items():
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
            assert service.get("restart") == "unless-stopped", name
        options = service["logging"]["options"]
        assert service["logging"]["driver"] == "json-file" and options["max-size"], name


def test_every_dependency_waits_for_a_condition():
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, rule in depends.items():
            wanted = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert rule.get("condition") == wanted, (name, dependency, rule)


def test_images_are_pinned_and_temporal_matches_the_development_server():
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]
    for name, service in SERVICES.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and re.fullmatch(r"v?\d+(\.\d+)+", tag), f"{name}: {image} is not pinned"
        if repository == "gradeflow":
            assert tag == version, f"{name}: the image is tagged {tag}, the package is {version}"
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim$", DOCKERFILE, re.M)
    temporal = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    if Path(temporal).exists():
        out = subprocess.run([temporal, "--version"], capture_output=True, text=True).stdout
        server, ui = re.search(r"Server ([\d.]+), UI ([\d.]+)", out).groups()
        assert SERVICES["temporal"]["image"] == f"temporalio/server:{server}"
        assert SERVICES["temporal-schema"]["image"] == f"temporalio/admin-tools:{server}"
        assert SERVICES["temporal-ui"]["image"] == f"temporalio/ui:{ui}"


def test_no_secret_is_written_in_the_file():
    declared = COMPOSE["secrets"]
    assert all(s["file"].startswith("./secrets/") for s in declared.values())
    assert "secrets/" in (ROOT / ".gitignore").read_text().splitlines()
    for name, service in SERVICES.items():
        for key, value in env_of(service).items():
            if SECRET_WORDS.search(key):
                assert key.endswith("_FILE"), f"{name}: {key} holds a secret in plain text"
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{name}: {key} has a password"
        for secret in service.get("secrets", []):
            assert secret in declared, (name, secret)
    for app in ("api", "worker", "migrate"):  # they read the database URL from its secret file
        assert "gradeflow_database_url" in SERVICES[app]["secrets"]


def test_privileges_the_worker_needs_and_nobody_else_gets():
    worker = SERVICES["worker"]
    assert worker["user"] == "0:0" and worker["cap_add"] == ["SYS_ADMIN"]
    assert "seccomp=unconfined" in worker["security_opt"]
    for name, service in SERVICES.items():
        if name != "worker":
            assert "cap_add" not in service and "privileged" not in service, name
    for name in ("api", "dashboard", "migrate"):
        assert "user" not in SERVICES[name], f"{name} must run as the image's unprivileged user"
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1] not in ("root", "0"), users
    assert re.search(r"pip install \.(\s|$)", DOCKERFILE), "the image installs no embedded extra"


def test_the_temporal_ui_is_read_only_on_this_host():
    ui = SERVICES["temporal-ui"]
    assert env_of(ui)["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    assert all(str(p).startswith("127.0.0.1:") for p in ui["ports"])
    for name in ("prometheus", "grafana"):
        assert all(str(p).startswith("127.0.0.1:") for p in SERVICES[name]["ports"])


def test_the_monitoring_profile_scrapes_every_role_and_charts_what_to_alert_on():
    for name in ("prometheus", "grafana"):
        assert SERVICES[name]["profiles"] == ["monitoring"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert jobs["gradeflow-api"]["static_configs"][0]["targets"] == ["api:8000"]
    assert jobs["gradeflow-worker"]["dns_sd_configs"][0] == {
        "names": ["worker"],
        "type": "A",
        "port": 9464,
    }
    dashboard = json.loads(
        (ROOT / "deploy" / "grafana" / "dashboards" / "gradeflow.json").read_text()
    )
    queries = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "gradeflow_submissions_pending",
        "gradeflow_submit_to_result_seconds_bucket",
        "gradeflow_gradings_total",
        "gradeflow_task_queue_backlog",
        "gradeflow_api_requests_total",
    ):
        assert metric in queries, metric


@pytest.mark.parametrize(
    "script", ["temporal-schema.sh", "temporal-namespace.sh", "make-secrets.sh"]
)
def test_the_deploy_scripts_are_valid_shell(script: str):
    result = subprocess.run(
        ["sh", "-n", str(ROOT / "deploy" / script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_make_secrets_creates_private_random_secrets_once(tmp_path: Path):
    (tmp_path / "deploy").mkdir()
    shutil.copy(ROOT / "deploy" / "make-secrets.sh", tmp_path / "deploy")
    for _ in range(2):  # the second run keeps what the first made
        subprocess.run(
            ["sh", str(tmp_path / "deploy" / "make-secrets.sh")], check=True, capture_output=True
        )
    secrets = tmp_path / "secrets"
    assert oct(secrets.stat().st_mode & 0o777) == "0o700"
    password = (secrets / "postgres_password").read_text()
    assert len(password) >= 32
    assert (secrets / "gradeflow_database_url").read_text() == (
        f"postgresql://gradeflow:{password}@postgres:5432/gradeflow"
    )
    assert set(COMPOSE["secrets"]) == {p.name for p in secrets.iterdir()}


def test_the_dashboard_replicas_sit_behind_haproxy_with_the_settings_gradeflow_up_uses():
    from gradeflow.launch import proxy as dashboard_proxy

    assert "ports" not in SERVICES["dashboard"], "a replica's own port would bypass the proxy"
    assert SERVICES["dashboard"]["deploy"]["replicas"] >= 2
    proxy = SERVICES["dashboard-proxy"]
    assert proxy["ports"] == ["8501:8501"]
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in proxy["volumes"]
    deployed = (ROOT / "deploy" / "haproxy.cfg").read_text()
    lines = {line.strip() for line in deployed.splitlines()}
    written = dashboard_proxy.config("127.0.0.1", 8501, [9001, 9002])
    # Every setting `gradeflow up` writes, but its own servers, address and file limit, holds in compose too
    for line in written.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "server ", "bind ", "maxconn ", "cookie ")):
            assert line in lines, f"deploy/haproxy.cfg lacks `{line}`"
    assert f"cookie {dashboard_proxy.STICKY_COOKIE} insert indirect nocache httponly" in deployed
    assert "server-template dashboard- " in deployed and "dashboard:8501" in deployed
    # Both configurations are valid to HAProxy itself, where it is installed (make test installs it)
    binary = dashboard_proxy.haproxy()
    if binary is None:
        pytest.skip("HAProxy is not installed: its own check of the two files did not run")
    for name, text in (("deploy/haproxy.cfg", deployed), ("gradeflow up's", written)):
        checked = subprocess.run(
            [binary, "-c", "-f", "/dev/stdin"], input=text, capture_output=True, text=True
        )
        assert checked.returncode == 0, f"{name}: {checked.stdout}{checked.stderr}"
