"""A workflow's history from Temporal, in words: each event, which activity, which attempt, how long it took
and why it failed (gradings run as local activities: their markers are read too)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import EventType

# The marker name Temporal's SDKs record a local activity under
LOCAL_ACTIVITY_MARKER = "core_local_activity"


def _name(event_type: EventType.ValueType) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_").lower()


def timeline(events: list) -> list[dict[str, Any]]:
    """Events in words: what happened, to which activity, which attempt, how long it took, why it failed."""
    scheduled: dict[int, dict[str, Any]] = {}
    started: dict[int, datetime] = {}
    rows = []
    first = events[0].event_time.ToDatetime(UTC) if events else None
    for e in events:
        at = e.event_time.ToDatetime(UTC)
        row: dict[str, Any] = {
            "event_id": e.event_id,
            "time": at,
            "type": _name(e.event_type),
            "offset_ms": int((at - first).total_seconds() * 1000) if first else 0,
        }
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            scheduled[e.event_id] = {"activity": a.activity_type.name, "at": at}
            row["activity"] = a.activity_type.name
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = e.activity_task_started_event_attributes
            info = scheduled.get(a.scheduled_event_id, {})
            started[a.scheduled_event_id] = at
            row.update(
                activity=info.get("activity"),
                attempt=a.attempt,
                waited_ms=int((at - info["at"]).total_seconds() * 1000) if info else None,
            )
            if a.attempt > 1 and a.last_failure.message:
                row["failure"] = f"previous attempt failed: {a.last_failure.message}"
        elif e.event_type in (
            EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        ):
            attrs = (
                e.activity_task_completed_event_attributes
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                else e.activity_task_failed_event_attributes
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
                else e.activity_task_timed_out_event_attributes
            )
            info = scheduled.get(attrs.scheduled_event_id, {})
            row["activity"] = info.get("activity")
            if attrs.scheduled_event_id in started:
                row["duration_ms"] = int(
                    (at - started[attrs.scheduled_event_id]).total_seconds() * 1000
                )
            if (
                e.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                and attrs.failure.message
            ):
                row["failure"] = attrs.failure.message
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            row.update(local_activity_row(e.marker_recorded_event_attributes))
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            row["failure"] = e.workflow_execution_failed_event_attributes.failure.message
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            row["failure"] = (
                f"terminated: {e.workflow_execution_terminated_event_attributes.reason}"
            )
        rows.append(row)
    return rows


def local_activity_row(marker) -> dict[str, Any]:
    """A local activity's marker in words: which activity, its attempt, how long it took, why it failed. (Gradings
    run as local activities: their markers are what the history keeps of them.)"""
    if marker.marker_name != LOCAL_ACTIVITY_MARKER:
        return {"type": "marker", "detail": marker.marker_name}
    try:
        data = json.loads(marker.details["data"].payloads[0].data)
    except (KeyError, IndexError, ValueError):
        return {"type": "local_activity"}
    row: dict[str, Any] = {
        "type": "local_activity",
        "activity": data.get("activity_type"),
        "attempt": data.get("attempt"),
    }
    # The marker's own times are the workflow's clock, not the activity's: a grading's result carries its own.
    try:
        result = json.loads(marker.details["result"].payloads[0].data)
        row["duration_ms"] = int(
            (
                datetime.fromisoformat(result["finished_at"])
                - datetime.fromisoformat(result["started_at"])
            ).total_seconds()
            * 1000
        )
    except (KeyError, IndexError, ValueError, TypeError):
        pass
    if marker.HasField("failure") and marker.failure.message:
        row["failure"] = marker.failure.message
    return row
