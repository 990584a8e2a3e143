"""`gradeflow up`: the whole platform on one machine, from nothing, kept up by a supervisor (restarted when a
process dies, the operator told), stopped cleanly by Ctrl-C or SIGTERM."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import threading
import time
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

from gradeflow.launch import proxy
from gradeflow.launch.embedded import (
    GRADING_NICE,
    EmbeddedServices,
    ServiceError,
    embedded_missing_message,
    free_port,
    missing_embedded,
    port_free,
    wait_for_port,
)
from gradeflow.launch.migrate import migrate
from gradeflow.launch.roles import (
    SERVICE_FIELDS,
    role_argv,
    role_env,
    wait_healthy,
    worker_metrics_address,
)
from gradeflow.launch.seed import load_tokens, seed
from gradeflow.launch.supervise import FATAL, Program, Supervisor
from gradeflow.settings import RUNTIME_FILE, Settings, running_file, running_home

ROLES = ("worker", "api", "dashboard")


def already_running(home: Path) -> str:
    """What the `gradeflow up` that runs from `home` (or holds the port) told in its runtime.json, in words."""
    try:
        info = json.loads((home / RUNTIME_FILE).read_text())
    except (OSError, ValueError):
        return f"GradeFlow already runs from {home}"
    return (
        f"GradeFlow already runs from {home} (pid {info.get('pid', '?')}, since "
        f"{info.get('started_at', '?')}): dashboard {info.get('dashboard_url', '?')}, API "
        f"{info.get('api_url', '?')}. Use that one, or stop it (Ctrl-C in its terminal, or "
        f"`kill {info.get('pid', 'PID')}`) first"
    )


def other_gradeflow() -> str:
    """' (…GradeFlow already runs …)' when the port's holder is likely the `gradeflow up` on record, else ''."""
    home = running_home()
    return f" ({already_running(home)})" if home else ""


def check_role_ports(settings: Settings) -> None:
    """Fail before starting anything when a port the roles need is taken, and say which setting moves it (and
    when another GradeFlow holds it, which one). The embedded services check theirs as they are prepared."""
    metrics_port = int(worker_metrics_address(settings).rpartition(":")[2])
    for port, name, env in (
        (settings.api_port, "API", "GRADEFLOW_API_PORT (or --api-port)"),
        (settings.dashboard_port, "dashboard", "GRADEFLOW_DASHBOARD_PORT (or --dashboard-port)"),
        (metrics_port, "worker's metrics", "GRADEFLOW_WORKER_METRICS_ADDRESS"),
    ):
        if not port_free(port):
            raise ServiceError(
                f"port {port} for the {name} is in use{other_gradeflow()}: stop what uses it, or set "
                f"{env}."
            )


def lock_home(home: Path):
    """An exclusive lock on `home` for as long as this `up` runs (the kernel lets it go when the process ends,
    however it ends), or None when another `up` holds it."""
    handle = open(home / "up.lock", "a")  # held open for the life of `up`
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def record_running(settings: Settings) -> None:
    """runtime.json for the other commands (and a second `up`), and the machine-wide note of which home runs."""
    settings.runtime_file.write_text(
        json.dumps(
            {name: getattr(settings, name) for name in SERVICE_FIELDS}
            | {
                "api_url": settings.resolved_api_url,
                "dashboard_url": f"http://{settings.dashboard_host}:{settings.dashboard_port}",
                "pid": os.getpid(),
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            indent=2,
        )
    )
    with suppress(OSError):  # a read-only home directory: found through GRADEFLOW_HOME only
        running_file().parent.mkdir(parents=True, exist_ok=True)
        running_file().write_text(json.dumps({"home": str(settings.home), "pid": os.getpid()}))


def forget_running(settings: Settings) -> None:
    settings.runtime_file.unlink(missing_ok=True)
    with suppress(OSError, ValueError, KeyError, TypeError):
        if json.loads(running_file().read_text())["pid"] == os.getpid():
            running_file().unlink()


def could_not_start(supervisor: Supervisor) -> str | None:
    """A role supervisord could not start, in words, or None."""
    for name, info in supervisor.states().items():
        if info["statename"] == FATAL:
            return (
                f"the {name} could not start: {info['spawnerr'] or info['description']}; "
                f"see {supervisor.log(name)}"
            )
    return None


def banner(settings: Settings, logs: Path) -> str:
    api = settings.resolved_api_url
    lines = [
        "",
        "GradeFlow is running. Ctrl-C stops everything.",
        f"  Dashboard:        http://{settings.dashboard_host}:{settings.dashboard_port}"
        + (f" ({settings.dashboards} processes behind HAProxy)" if settings.dashboards > 1 else ""),
        f"  API docs:         {api}/docs",
        f"  API health:       {api}/api/v1/health",
        f"  For an LMS:       {settings.resolved_public_api_url}/lti/login … (`gradeflow lti urls`)",
        f"  Temporal Web UI:  {settings.temporal_ui_url or '(configured Temporal: see its own UI)'}",
        f"  Worker metrics:   http://{worker_metrics_address(settings)}/metrics (Prometheus)",
        f"  Logs:             {logs}/",
    ]
    tokens = load_tokens(settings.home)
    if tokens:
        lines.append("  Demo tokens (sign in to the dashboard with one):")
        lines += [
            f"    {name:<6} {info['role']:<10} {info['token']}" for name, info in tokens.items()
        ]
    return "\n".join(lines) + "\n"


def wait_for_database(url: str, timeout: float = 60) -> None:
    import asyncio

    from sqlalchemy import text

    from gradeflow.db import in_transaction

    deadline = time.monotonic() + timeout
    while True:
        try:
            asyncio.run(in_transaction(url, lambda s: s.execute(text("SELECT 1"))))
            return
        except Exception as exc:  # noqa: BLE001 - not up yet: try again until the deadline
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"PostgreSQL did not accept connections within {timeout:.0f} s ({exc})"
                ) from None
            time.sleep(0.2)


def embedded_programs(settings: Settings, services: EmbeddedServices) -> list[Program]:
    """The embedded services `up` runs (those not configured elsewhere), in the order they must start."""
    programs = []
    if settings.database_url is None:
        print("preparing PostgreSQL (embedded)…", flush=True)
        argv, user = services.postgres_program()
        # INT: fast shutdown
        programs.append(Program("postgres", argv, priority=10, user=user, stopsignal="INT"))
    if settings.redis_url is None:
        programs.append(Program("redis", services.redis_argv(), priority=10))
    if settings.temporal_address is None:
        programs.append(
            Program(
                "temporal",
                [
                    sys.executable,
                    "-m",
                    "gradeflow.priority",
                    str(GRADING_NICE),
                    *services.temporal_argv(),
                ],
                priority=20,
                stopsignal="INT",
            )
        )
    return programs


def role_programs(settings: Settings) -> list[Program]:
    """The worker, the API and the dashboard; several dashboard processes on free local ports behind HAProxy
    (gradeflow/launch/proxy.py) on the dashboard's address when `dashboards` is more than one."""
    programs = [
        Program(role, role_argv(role), priority=30 + i, autostart=False)
        for i, role in enumerate(ROLES)
        if role != "dashboard" or settings.dashboards == 1
    ]
    if settings.dashboards > 1:
        ports = [free_port() for _ in range(settings.dashboards)]
        programs += [
            Program(
                f"dashboard-{i}",
                role_argv("dashboard", "--host", "127.0.0.1", "--port", str(port)),
                priority=32,
                autostart=False,
            )
            for i, port in enumerate(ports, 1)
        ]
        proxy_config = settings.home / "haproxy.cfg"
        proxy_config.write_text(
            proxy.config(settings.dashboard_host, settings.dashboard_port, ports)
        )
        programs.append(
            Program("dashboard-proxy", proxy.argv(proxy_config), priority=33, autostart=False)
        )
    return programs


def up(settings: Settings) -> int:
    """Everything under supervision (see gradeflow.launch.supervise): a process that exits is restarted and the operator
    told; `up` stops on Ctrl-C or SIGTERM, or when supervisord gives up on a process, naming it."""
    settings = settings.model_copy(update={"home": settings.home.resolve()})
    missing = missing_embedded(settings.model_dump())
    if missing:
        print(f"error: {embedded_missing_message(missing)}", file=sys.stderr)
        return 2
    if settings.dashboards > 1 and proxy.haproxy() is None:
        print(f"error: {proxy.MISSING}", file=sys.stderr)
        return 2
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    lock = lock_home(home)
    if lock is None:
        print(f"error: {already_running(home)}. This command changed nothing.", file=sys.stderr)
        return 1
    logs = home / "logs"
    services = EmbeddedServices(
        home,
        settings.postgres_port,
        settings.redis_port,
        settings.temporal_port,
        settings.temporal_ui_port,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor: Supervisor | None = None
    code = 0
    try:
        check_role_ports(settings)
        programs = embedded_programs(settings, services)
        settings = settings.model_copy(update=services.urls)
        roles = role_programs(settings)
        supervisor = Supervisor(home, [*programs, *roles], role_env(settings))
        if programs:
            print(
                f"starting {', '.join(p.name for p in programs)} (embedded, supervised)…",
                flush=True,
            )
        supervised = supervisor.start()
        if "redis" in supervisor.programs:
            wait_for_port(settings.redis_port, supervised, "Redis", logs / "redis.log")
        if "temporal" in supervisor.programs:
            wait_for_port(settings.temporal_port, supervised, "Temporal", logs / "temporal.log")
        wait_for_database(settings.need("database_url"))
        record_running(settings)
        print("applying migrations…", flush=True)
        migrate(settings)
        seed(settings, demo=settings.seed_demo)
        print("starting worker, API and dashboard…", flush=True)
        for role in roles:
            supervisor.start_program(role.name)
        wait_healthy(settings.resolved_api_url, lambda: could_not_start(supervisor), timeout=90)
        print(banner(settings, logs), flush=True)
        supervisor.watch(lambda line: None)  # the states now, so only later changes are told
        while not stop.wait(0.5):
            fatal = supervisor.watch(lambda line: print(line, file=sys.stderr, flush=True))
            if fatal:
                print(
                    f"error: stopping GradeFlow: the {fatal} keeps failing; see {supervisor.log(fatal)}",
                    file=sys.stderr,
                    flush=True,
                )
                code = 1
                break
    except (ServiceError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    finally:
        print("stopping…", flush=True)
        if supervisor is not None:
            supervisor.stop()
        services.stop()
        forget_running(settings)
        lock.close()
        print("stopped.", flush=True)
    return code
