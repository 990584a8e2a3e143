"""Starting GradeFlow's roles and waiting until they serve: the one way `gradeflow up`, the tests' stacks and the
benchmarks bring the platform up.

- `role_env`: the environment every role is started with (where the services are, where the API and the worker's
  metrics listen).
- `wait_healthy`: wait until the API reports healthy, giving up early with the reason when a role cannot start.
- `local_stack`: a whole platform under one directory for tests and benchmarks: the embedded PostgreSQL, Redis
  and Temporal dev server, migrated and seeded, then the worker and the API as processes of their own (so a test
  can kill the worker). `gradeflow up` starts the same roles under supervisord instead (gradeflow.launch.supervise).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gradeflow.launch.embedded import EmbeddedServices, ServiceError, free_port, run_async
from gradeflow.settings import Settings
from gradeflow.vocabulary import FINAL_STATUSES, Role

SERVICE_FIELDS = ("database_url", "redis_url", "temporal_address", "temporal_ui_url")
DEFAULT_WORKER_METRICS = "127.0.0.1:9464"  # Prometheus' usual exporter port
_names = itertools.count()


def worker_metrics_address(settings: Settings) -> str:
    return settings.worker_metrics_address or DEFAULT_WORKER_METRICS


def role_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a role process: this one's, plus where the services are and where the roles listen."""
    env = dict(os.environ)
    env["GRADEFLOW_HOME"] = str(settings.home)
    for name in SERVICE_FIELDS:
        value = getattr(settings, name)
        if value:
            env[f"GRADEFLOW_{name.upper()}"] = value
    # Where the roles listen: `up`'s options (--api-port, --dashboard-port) as well as the environment's
    for name in ("api_host", "api_port", "dashboard_host", "dashboard_port"):
        env[f"GRADEFLOW_{name.upper()}"] = str(getattr(settings, name))
    env["GRADEFLOW_API_URL"] = settings.resolved_api_url
    env["GRADEFLOW_WORKER_METRICS_ADDRESS"] = worker_metrics_address(settings)
    return env | extra


def role_argv(role: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "gradeflow", role, *args]


def wait_healthy(api_url: str, why_not: Callable[[], str | None], timeout: float = 120) -> None:
    """Wait until `api_url`'s /api/v1/health answers 200. `why_not()` names a reason to stop waiting (a role that
    could not start), checked on every round; ServiceError with that reason, or on timeout."""
    url = f"{api_url}/api/v1/health"
    deadline = time.monotonic() + timeout
    while True:
        reason = why_not()
        if reason:
            raise ServiceError(reason)
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ServiceError(f"{url} did not report healthy within {timeout:.0f} s")
        time.sleep(0.2)


@dataclass
class RoleProcess:
    """A GradeFlow role (`gradeflow worker`, `gradeflow api`) running as its own process group."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=open(self.log_path, "ab"),  # the child holds it open
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def exited(self) -> str | None:
        """Why it is not running ("exited with code 1; see …/api.log"), or None while it runs."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"{self.argv[3]} exited with code {self.proc.returncode}; see {self.log_path}"

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker and any grading it was running."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Stack:
    """A running local platform: where it lives, how to reach it, its role processes and the seeded tokens."""

    home: Path
    env: dict[str, str]
    api_url: str
    services: EmbeddedServices
    worker: RoleProcess
    api: RoleProcess
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return self.env["GRADEFLOW_DATABASE_URL"]

    @property
    def worker_metrics_url(self) -> str:
        return f"http://{self.env['GRADEFLOW_WORKER_METRICS_ADDRESS']}/metrics"

    @property
    def temporal_address(self) -> str:
        return self.env["GRADEFLOW_TEMPORAL_ADDRESS"]

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.api_url}/api/v1", headers=headers, timeout=30)

    def db(self, fn: Callable[[Any], Any]) -> Any:
        """Run `await fn(session)` in one transaction against the stack's PostgreSQL."""
        from gradeflow.db import in_transaction

        return run_async(lambda: in_transaction(self.database_url, fn))

    def new_user(self, role: str = Role.STUDENT, cohort: str | None = "demo") -> str:
        """A fresh user (so tests never share a pending submission); returns the API token."""
        from gradeflow.accounts import add_user

        name = f"{role}-{os.getpid()}-{next(_names)}-{time.monotonic_ns() % 100000}"
        return self.db(lambda session: add_user(session, name, role, cohort))[1]

    def sql(self, query: str, **params: Any) -> list[tuple]:
        """Read PostgreSQL directly, to see what the API does not show (e.g. grading_runs)."""
        from sqlalchemy import text

        from gradeflow.db import make_engine

        async def run() -> list[tuple]:
            engine = make_engine(self.database_url, pool_size=1)
            try:
                async with engine.connect() as conn:
                    return [tuple(r) for r in (await conn.execute(text(query), params)).all()]
            finally:
                await engine.dispose()

        return run_async(run)

    def sql_write(self, query: str, **params: Any) -> None:
        """Change PostgreSQL behind the API's back, as an administrator would."""
        from sqlalchemy import text

        self.db(lambda session: session.execute(text(query), params))

    def wait_graded(self, token: str, submission_id: str, timeout: float = 60) -> dict:
        """Poll a submission until its result is in (setting up, not measuring: no latency is taken here)."""
        deadline = time.monotonic() + timeout
        with self.client(token) as c:
            while (body := c.get(f"/submissions/{submission_id}").json()).get(
                "status"
            ) not in FINAL_STATUSES:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"timed out after {timeout:.0f} s waiting for submission {submission_id}"
                    )
                time.sleep(0.05)
        return body


@contextlib.contextmanager
def local_stack(home: Path, *, demo: bool = True, **extra_env: str) -> Iterator[Stack]:
    """The whole platform under `home` on free ports: embedded services, migrated and seeded (the demo course
    and its users when `demo`), then the worker and the API as processes; stopped and cleaned up on exit.
    `extra_env`: GRADEFLOW_* settings for the roles."""
    from gradeflow.launch.migrate import migrate
    from gradeflow.launch.seed import load_tokens, seed

    home.mkdir(parents=True, exist_ok=True)
    services = EmbeddedServices(
        home,
        postgres_port=0,
        redis_port=free_port(),
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
    )
    logs = home / "logs"
    roles: list[RoleProcess] = []
    try:
        services.start_postgres()
        services.start_redis()
        services.start_temporal()
        api_port = free_port()
        settings = Settings(
            home=home,
            api_port=api_port,
            api_url=f"http://127.0.0.1:{api_port}",
            # Where a dashboard started beside this stack listens (an LMS launch lands there)
            dashboard_port=free_port(),
            worker_metrics_address=f"127.0.0.1:{free_port()}",
        ).model_copy(update=services.urls)

        def prepare() -> None:
            migrate(settings)
            seed(settings, demo=demo)

        # In a thread of their own: both run an event loop, and the caller's may already be running one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(prepare).result()
        env = role_env(settings, **extra_env)
        worker = RoleProcess(role_argv("worker"), env, logs / "worker.log")
        api = RoleProcess(role_argv("api", "--port", str(api_port)), env, logs / "api.log")
        roles += [worker, api]
        for role in roles:
            role.start()
        stack = Stack(
            home,
            env,
            settings.resolved_api_url,
            services,
            worker,
            api,
            {name: info["token"] for name, info in load_tokens(home).items()},
        )
        wait_healthy(stack.api_url, lambda: worker.exited() or api.exited())
        yield stack
    finally:
        for role in reversed(roles):
            role.stop()
        services.stop()
        print(f"\nstack logs: {logs}")
