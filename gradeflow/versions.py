"""Content hashes: an assignment's test version and a submission's code hash."""

import hashlib
import json
from typing import Any


def test_version(test_code: str, io_cases: list[dict[str, Any]], limits: dict[str, Any]) -> str:
    """Changes whenever anything that can change a grade changes: tests, I/O cases or limits."""
    canonical = json.dumps(
        {"test_code": test_code, "io_cases": io_cases, "limits": limits},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
