"""A whole GradeFlow stack for a benchmark: embedded services, the worker and the API as real processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from gradeflow.cli import migrate, seed
from gradeflow.db import in_transaction
from gradeflow.embedded import EmbeddedServices, free_port
from gradeflow.settings import Settings


class BenchStack:
    def __init__(self, **env: str) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="gradeflow-bench-"))
        self.services = EmbeddedServices(self.home, 0, free_port(), free_port(), free_port())
        self.extra_env = env
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> BenchStack:
        self.services.start_postgres()
        self.services.start_redis()
        self.services.start_temporal()
        settings = Settings(home=self.home, **self.services.urls)
        migrate(settings)
        seed(settings, demo=False)
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "GRADEFLOW_HOME": str(self.home),
            **self.extra_env,
            **{f"GRADEFLOW_{k.upper()}": v for k, v in self.services.urls.items()},
        }
        logs = self.home / "logs"
        for role in (["worker"], ["api", "--port", str(port)]):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gradeflow", *role],
                    env=self.env,
                    stdout=open(logs / f"{role[0]}.log", "ab"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.api_url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the benchmark stack did not come up; see {logs}")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: Any) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.services.stop()

    @property
    def database_url(self) -> str:
        return self.services.urls["database_url"]

    def db(self, fn: Callable[[Any], Any]) -> Any:
        return asyncio.run(in_transaction(self.database_url, fn))

    def sql(self, query: str, **params: Any) -> list[tuple]:
        from sqlalchemy import text

        async def run(session):
            return [tuple(r) for r in (await session.execute(text(query), params)).all()]

        return self.db(run)

    def wait_graded(self, token: str, sub_id: str, timeout: float = 60) -> dict:
        """Poll a submission until its grading is final (setting up a benchmark, not measuring it)."""
        deadline = time.monotonic() + timeout
        with self.client(token) as c:
            while (body := c.get(f"/submissions/{sub_id}").json())["status"] not in (
                "graded",
                "error",
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"submission {sub_id} not graded within {timeout} s")
                time.sleep(0.05)
        return body

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.api_url}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
