"""Test fixtures. Integration tests get the real stack: PostgreSQL, Redis and Temporal's dev server started here,
plus the worker and API as separate processes (so a test can kill the worker), all on free ports under a temp home."""

from __future__ import annotations

import asyncio
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
import pytest

from gradeflow.embedded import EmbeddedServices, free_port

TERMINAL = ("graded", "error")
_names = itertools.count()


def run_async(make_coroutine: Callable[[], Any]) -> Any:
    """Run a coroutine to completion from sync test code, even where a loop is already running (Playwright's)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Poll until `predicate()` is truthy; fail with `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def answers(url: str, status: int = 200, timeout: float = 2) -> bool:
    """Whether `url` answers `status` now (False while nothing listens there)."""
    try:
        return httpx.get(url, timeout=timeout).status_code == status
    except httpx.HTTPError:
        return False


@dataclass
class Role:
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
            stdout=open(self.log_path, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

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
    home: Path
    env: dict[str, str]
    api_url: str
    services: EmbeddedServices
    worker: Role
    api: Role
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

    def new_user(self, role: str = "student", cohort: str | None = "demo") -> str:
        """A fresh user (so tests never share a pending submission); returns the API token."""
        from gradeflow.accounts import add_user

        name = f"{role}-{os.getpid()}-{next(_names)}-{time.monotonic_ns() % 100000}"
        return self.db(lambda session: add_user(session, name, role, cohort))[1]

    def sql(self, query: str, **params: Any) -> list[tuple]:
        """Read PostgreSQL directly, to check what the API cannot show (e.g. grading_runs)."""
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
        with self.client(token) as c:

            def done():
                body = c.get(f"/submissions/{submission_id}").json()
                return body if body.get("status") in TERMINAL else None

            return wait_for(done, timeout, f"submission {submission_id} to finish grading")


@contextlib.contextmanager
def launch_stack(home: Path, **extra_env: str) -> Iterator[Stack]:
    """A whole stack under `home`: embedded services, migrated and seeded, the worker and the API as processes."""
    from gradeflow.cli import migrate, seed
    from gradeflow.settings import Settings

    services = EmbeddedServices(
        home,
        postgres_port=0,
        redis_port=free_port(),
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
    )
    logs = home / "logs"
    roles: list[Role] = []
    try:
        services.start_postgres()
        services.start_redis()
        services.start_temporal()
        settings = Settings(home=home, **services.urls)
        # In a thread of their own: both run an event loop, and Playwright's may already be running in this one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(lambda: (migrate(settings), seed(settings))).result()
        api_port = free_port()
        env = {
            **os.environ,
            "GRADEFLOW_HOME": str(home),
            **{f"GRADEFLOW_{k.upper()}": v for k, v in services.urls.items()},
            # Reconcile quickly so "lost message" tests finish in seconds, not minutes.
            "GRADEFLOW_RECONCILE_AFTER_SECONDS": "2",
            "GRADEFLOW_RECONCILE_INTERVAL_SECONDS": "0.5",
            "GRADEFLOW_SUBMISSIONS_PER_MINUTE": "12",
            "GRADEFLOW_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
            **extra_env,
        }
        gradeflow = [sys.executable, "-m", "gradeflow"]
        worker = Role(gradeflow + ["worker"], env, logs / "worker.log")
        api = Role(gradeflow + ["api", "--port", str(api_port)], env, logs / "api.log")
        from gradeflow.seed import load_tokens

        stack = Stack(
            home,
            env,
            f"http://127.0.0.1:{api_port}",
            services,
            worker,
            api,
            {name: info["token"] for name, info in load_tokens(home).items()},
        )
        roles += [worker, api]
        worker.start()
        api.start()
        wait_for(
            lambda: answers(f"{stack.api_url}/api/v1/health"),
            90,
            "the API to report healthy",
            interval=0.2,
        )
        yield stack
    finally:
        for role in reversed(roles):
            role.stop()
        services.stop()
        print(f"\nstack logs: {logs}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """The stack most tests share: tests use fresh users and leave the seeded course as it is."""
    with launch_stack(tmp_path_factory.mktemp("gradeflow-home")) as shared:
        yield shared


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory) -> Iterator[Stack]:
    """A stack for one test module that changes what others rely on (fuzzing, stopped services)."""
    with launch_stack(tmp_path_factory.mktemp("gradeflow-own")) as own:
        yield own
