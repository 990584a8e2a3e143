"""Real sandboxes (fork server and fresh interpreter) for the sandbox tests, on one long-lived event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

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


class NativeGrader(Grader):
    """A fork server with a compile cache of its own, grading any language."""

    def __init__(self, loop: Loop, sandbox: Sandbox, cache_dir: str) -> None:
        super().__init__(loop, sandbox)
        self.cache_dir = cache_dir

    def run(self, job: SandboxJob) -> SandboxResult:
        return self.loop.run(self.sandbox.run_in_sandbox(job), timeout=300)

    def run_many(self, jobs: list[SandboxJob]) -> list[SandboxResult]:
        async def all_at_once():
            return await asyncio.gather(*(self.sandbox.run_in_sandbox(j) for j in jobs))

        return self.loop.run(all_at_once(), timeout=300)


@pytest.fixture(scope="session")
def native(loop, tmp_path_factory) -> NativeGrader:
    cache = str(tmp_path_factory.mktemp("compile-cache"))
    sandbox = loop.run(Sandbox("forkserver", compile_cache_dir=cache).start())
    yield NativeGrader(loop, sandbox, cache)
    loop.run(sandbox.close())


@contextlib.contextmanager
def ports_nobody_may_reach() -> Iterator[list[socket.socket]]:
    """Two listening ports standing for Redis and PostgreSQL; on leaving, each must have had no connection."""
    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    for listener in listeners:
        listener.setblocking(False)
    try:
        yield listeners
        for listener in listeners:
            with pytest.raises(BlockingIOError):
                listener.accept()
    finally:
        for listener in listeners:
            listener.close()


@pytest.fixture(scope="session")
def native_cold(loop, tmp_path_factory) -> NativeGrader:
    """As `native`, without the warm supervisor: every grading in namespaces of its own (a server whose
    supervisor could not start, or is gone, or has as many gradings as it has uids)."""
    cache = str(tmp_path_factory.mktemp("compile-cache-cold"))
    sandbox = loop.run(Sandbox("forkserver", compile_cache_dir=cache, warm_native=False).start())
    yield NativeGrader(loop, sandbox, cache)
    loop.run(sandbox.close())


@pytest.fixture(scope="session")
def native_forking(loop, tmp_path_factory) -> NativeGrader:
    """As `native`, without the spawner: pid 1 forks each case (a worker with no C compiler does this)."""
    cache = str(tmp_path_factory.mktemp("compile-cache-forking"))
    sandbox = loop.run(Sandbox("forkserver", compile_cache_dir=cache, native_spawner=False).start())
    yield NativeGrader(loop, sandbox, cache)
    loop.run(sandbox.close())
