"""How a submission looks to clients: one payload for API responses and the Redis status cache."""

from __future__ import annotations

from typing import Any

from gradeflow.models import TEST_ERROR, TESTS_BROKEN, Submission


def submission_payload(sub: Submission, staff: bool = False) -> dict[str, Any]:
    """`staff`: for the student's instructors and operators, who also see why an assignment's tests failed to
    load (its author sees only that they did)."""
    details = sub.details or {}
    payload = {
        "id": str(sub.id),
        "assignment_id": sub.assignment_id,
        "user_id": sub.user_id,
        "status": sub.status,
        "passed": sub.passed,
        "score": sub.score,
        "max_score": sub.max_score,
        "verdict": sub.verdict,
        "tests": sub.tests or [],
        "message": details.get("message", ""),
        "stdout": details.get("stdout", ""),
        "stderr": details.get("stderr", ""),
        "cpu_ms": details.get("cpu_ms"),
        "peak_memory_kb": details.get("peak_memory_kb"),
        "sandbox": details.get("sandbox"),
        "error": sub.error,
        # Whether the result cache answered: staff only. A student is never told that their result came from an
        # identical submission (someone else's, often): that would say that someone else submitted this code.
        "cached": sub.cached if staff else False,
        "credit": sub.credit if sub.credit is not None else 1.0,
        "late": bool(sub.late),
        "window": (sub.derivation or {}).get("window", "on time"),
        "workflow_id": sub.workflow_id,
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
        "graded_at": sub.graded_at.isoformat() if sub.graded_at else None,
    }
    if sub.verdict == TEST_ERROR:
        payload["message"] = TESTS_BROKEN
        if staff:
            payload["test_error"] = details.get("message", "")
    return payload
