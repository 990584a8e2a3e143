"""Test fixtures. Integration tests get the real stack: PostgreSQL, Redis and Temporal's dev server started here,
plus the worker and API as separate processes (so a test can kill the worker), all on free ports under a temp home."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gradeflow.launch.embedded import run_async
from gradeflow.launch.roles import RoleProcess as Role
from gradeflow.launch.roles import Stack, local_stack

__all__ = ["Role", "Stack", "answers", "launch_stack", "run_async", "wait_for"]


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


# How the tests' stacks differ from a deployment: reconcile quickly, so "lost message" tests finish in seconds,
# and a rate limit low enough to reach.
TEST_ENV = {
    "GRADEFLOW_RECONCILE_AFTER_SECONDS": "2",
    "GRADEFLOW_RECONCILE_INTERVAL_SECONDS": "0.5",
    "GRADEFLOW_SUBMISSIONS_PER_MINUTE": "12",
}


def launch_stack(home: Path, **extra_env: str):
    """A whole stack under `home` (gradeflow.launch.local_stack) with the tests' settings."""
    return local_stack(home, **TEST_ENV, **extra_env)


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
