"""How a submission looks to clients: one payload for API responses and the Redis status cache."""

from __future__ import annotations

from typing import Any

from gradeflow.models import Submission


def submission_payload(sub: Submission) -> dict[str, Any]:
    details = sub.details or {}
    return {
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
        "cached": sub.cached,
        "workflow_id": sub.workflow_id,
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
        "graded_at": sub.graded_at.isoformat() if sub.graded_at else None,
    }
