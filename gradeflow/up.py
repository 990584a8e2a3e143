"""`gradeflow up`: the whole platform on one machine, from nothing, stopped cleanly by Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from gradeflow.cli import migrate, seed
from gradeflow.embedded import EmbeddedServices, ServiceError, port_free
from gradeflow.seed import load_tokens
from gradeflow.settings import Settings

ROLES = ("worker", "api", "dashboard")
SERVICE_FIELDS = ("database_url", "redis_url", "temporal_address", "temporal_ui_url")
DEFAULT_WORKER_METRICS = "127.0.0.1:9464"  # Prometheus' usual exporter port


def role_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["GRADEFLOW_HOME"] = str(settings.home)
    for name in SERVICE_FIELDS:
        value = getattr(settings, name)
        if value:
            env[f"GRADEFLOW_{name.upper()}"] = value
    env["GRADEFLOW_API_URL"] = settings.resolved_api_url
    env["GRADEFLOW_WORKER_METRICS_ADDRESS"] = worker_metrics_address(settings)
    return env


def worker_metrics_address(settings: Settings) -> str:
    return settings.worker_metrics_address or DEFAULT_WORKER_METRICS


def check_role_ports(settings: Settings) -> None:
    """Fail before starting anything when a port the roles need is taken, and say which setting moves it."""
    metrics_port = int(worker_metrics_address(settings).rpartition(":")[2])
    for port, name, env in ((settings.api_port, "API", "GRADEFLOW_API_PORT"),
                            (settings.dashboard_port, "dashboard", "GRADEFLOW_DASHBOARD_PORT"),
                            (metrics_port, "worker's metrics", "GRADEFLOW_WORKER_METRICS_ADDRESS")):
        if not port_free(port):
            raise ServiceError(f"port {port} for the {name} is in use: stop what uses it, or set {env}.")


def wait_healthy(url: str, procs: dict[str, subprocess.Popen], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise ServiceError(f"the {name} exited with code {proc.returncode} during start-up")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ServiceError(f"{url} did not report healthy within {timeout:.0f} s")


def banner(settings: Settings, logs: Path) -> str:
    api = settings.resolved_api_url
    lines = [
        "",
        "GradeFlow is running. Ctrl-C stops everything.",
        f"  Dashboard:        http://{settings.dashboard_host}:{settings.dashboard_port}",
        f"  API docs:         {api}/docs",
        f"  API health:       {api}/api/v1/health",
        f"  Temporal Web UI:  {settings.temporal_ui_url or '(configured Temporal: see its own UI)'}",
        f"  Worker metrics:   http://{worker_metrics_address(settings)}/metrics (Prometheus)",
        f"  Logs:             {logs}/",
    ]
    tokens = load_tokens(settings.home)
    if tokens:
        lines.append("  Demo tokens (sign in to the dashboard with one):")
        lines += [f"    {name:<6} {info['role']:<10} {info['token']}" for name, info in tokens.items()]
    return "\n".join(lines) + "\n"


def up(settings: Settings) -> int:
    settings = settings.model_copy(update={"home": settings.home.resolve()})
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    logs = home / "logs"
    services = EmbeddedServices(home, settings.postgres_port, settings.redis_port, settings.temporal_port,
                                settings.temporal_ui_port)
    procs: dict[str, subprocess.Popen] = {}
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    code = 0
    try:
        check_role_ports(settings)
        if settings.database_url is None:
            print("starting PostgreSQL (embedded)…", flush=True)
            services.start_postgres()
        if settings.redis_url is None:
            print("starting Redis (embedded)…", flush=True)
            services.start_redis()
        if settings.temporal_address is None:
            print("starting Temporal dev server (embedded)…", flush=True)
            services.start_temporal()
        settings = settings.model_copy(update=services.urls)
        settings.runtime_file.write_text(json.dumps(
            {name: getattr(settings, name) for name in SERVICE_FIELDS} | {"api_url": settings.resolved_api_url},
            indent=2))
        print("applying migrations…", flush=True)
        migrate(settings)
        seed(settings, demo=settings.seed_demo)
        env = role_env(settings)
        for role in ROLES:
            procs[role] = subprocess.Popen(
                [sys.executable, "-m", "gradeflow", role], env=env, stdin=subprocess.DEVNULL,
                stdout=open(logs / f"{role}.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        print("starting worker, API and dashboard…", flush=True)
        wait_healthy(f"{settings.resolved_api_url}/api/v1/health", procs)
        print(banner(settings, logs), flush=True)
        while not stop.wait(0.5):
            died = [(name, p.returncode) for name, p in procs.items() if p.poll() is not None]
            if died:
                for name, rc in died:
                    print(f"the {name} exited with code {rc}; see {logs / (name + '.log')}", file=sys.stderr)
                code = 1
                break
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    finally:
        print("stopping…", flush=True)
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in procs.items():
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
        services.stop()
        settings.runtime_file.unlink(missing_ok=True)
        print("stopped.", flush=True)
    return code
