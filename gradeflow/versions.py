"""Content hashes: an assignment's test version and a submission's code hash."""

import hashlib
import json
from typing import Any


def test_version(
    test_code: str,
    io_cases: list[dict[str, Any]],
    limits: dict[str, Any],
    language: str = "python",
    function_tests: list[dict[str, Any]] | None = None,
    language_options: dict[str, Any] | None = None,
) -> str:
    """Changes whenever anything that can change a grade changes: tests, I/O cases, limits, and for other
    languages than Python the language, its function tests and options (left out for Python, so its versions
    stay what they were)."""
    graded_by: dict[str, Any] = {"test_code": test_code, "io_cases": io_cases, "limits": limits}
    if language != "python" or function_tests or language_options:
        graded_by |= {
            "language": language,
            "function_tests": function_tests or [],
            "language_options": language_options or {},
        }
    canonical = json.dumps(graded_by, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
