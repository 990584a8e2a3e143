"""Real sandboxes (fork server and fresh interpreter) for the sandbox tests, on one long-lived event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from sandbox import Sandbox, SandboxJob, SandboxResult
from sandbox.client import PROBE_CODE, PROBE_TESTS

FAST = {"cpu_seconds": 1, "wall_seconds": 2, "memory_mb": 256, "output_kb": 64}
ADD_TESTS, CORRECT_ADD = PROBE_TESTS, PROBE_CODE


class Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Grader:
    def __init__(self, loop: Loop, sandbox: Sandbox) -> None:
        self.loop = loop
        self.sandbox = sandbox

    @property
    def mode(self) -> str:
        return self.sandbox.mode

    def grade(
        self,
        code: str,
        tests: str = ADD_TESTS,
        limits: dict | None = None,
        io_cases: list | None = None,
    ) -> SandboxResult:
        job = SandboxJob(code=code, test_code=tests, io_cases=io_cases or [], limits=limits or FAST)
        return self.loop.run(self.sandbox.run_in_sandbox(job))

    def grade_many(self, codes: list[str], limits: dict | None = None) -> list[SandboxResult]:
        async def all_at_once():
            return await asyncio.gather(
                *(
                    self.sandbox.run_in_sandbox(
                        SandboxJob(code=c, test_code=ADD_TESTS, limits=limits or FAST)
                    )
                    for c in codes
                )
            )

        return self.loop.run(all_at_once())


@pytest.fixture(scope="session")
def loop():
    loop = Loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def forkserver(loop) -> Grader:
    sandbox = loop.run(Sandbox("forkserver").start())
    yield Grader(loop, sandbox)
    loop.run(sandbox.close())


@pytest.fixture(scope="session")
def fresh(loop) -> Grader:
    sandbox = loop.run(Sandbox("fresh").start())
    yield Grader(loop, sandbox)
    loop.run(sandbox.close())


@pytest.fixture(params=["forkserver", "fresh"])
def grader(request) -> Grader:
    """Each test that takes `grader` runs under both the fork server and the fresh-interpreter fallback."""
    return request.getfixturevalue(request.param)
