"""The sandbox: run untrusted code isolated and grade it with verdicts the code cannot forge.

`Sandbox.run_in_sandbox(job)` (in `client`) is the one entry point for the worker. Names are re-exported lazily so
the sandbox's own processes, which import `server`, `judge`, `inside`, `confine` and `wire`, never pay for the
worker-side client's imports.
"""

from typing import Any

__all__ = [
    "DEFAULT_LIMITS",
    "UNSAFE_WARNING",
    "IsolationUnavailable",
    "Sandbox",
    "SandboxError",
    "SandboxJob",
    "SandboxResult",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sandbox import client

        return getattr(client, name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
