"""The operators' pages without services: a workflow history as a timeline (from histories recorded from real
runs, and events built here for the failure paths), the visibility query a search becomes, which workflows can
be retried."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from api.errors import ApiError
from api.routes.ops.history import timeline
from api.routes.ops.queries import visibility_query
from api.routes.ops.routes import submission_of

HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "histories"


def recorded(name: str) -> list[HistoryEvent]:
    return list(WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text()).events)


def test_a_grading_reads_as_its_local_activities_in_order():
    rows = timeline(recorded("grade_submission-passed-run1"))
    assert rows[0]["type"] == "workflow_execution_started" and rows[0]["offset_ms"] == 0
    assert rows[-1]["type"] == "workflow_execution_completed"
    assert [r["event_id"] for r in rows] == sorted(r["event_id"] for r in rows)
    grading, recording = (r for r in rows if r["type"] == "local_activity")
    assert (grading["activity"], grading["attempt"]) == ("grade_submission", 1)
    assert grading["duration_ms"] >= 0, "a grading's own start and finish give its duration"
    assert recording["activity"] == "record_grading" and "duration_ms" not in recording
    assert not any("failure" in r for r in rows)


def test_an_activity_shows_its_wait_in_the_queue_and_its_duration():
    rows = timeline(recorded("regrade_cohort-run1"))
    chunk = [r for r in rows if r.get("activity") == "regrade_chunk"]
    assert [r["type"] for r in chunk] == [
        "activity_task_scheduled",
        "activity_task_started",
        "activity_task_completed",
    ]
    assert chunk[1]["attempt"] == 1 and chunk[1]["waited_ms"] >= 0
    assert chunk[2]["duration_ms"] >= 0
    assert rows[-1]["type"] == "workflow_execution_continued_as_new"


def event(event_id: int, at: datetime, kind: EventType.ValueType, **attributes) -> HistoryEvent:
    e = HistoryEvent(event_id=event_id, event_type=kind, **attributes)
    e.event_time.FromDatetime(at)
    return e


def test_a_retried_then_failed_activity_says_why_each_time():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        event(
            5,
            t0,
            EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            activity_task_scheduled_event_attributes={"activity_type": {"name": "regrade_chunk"}},
        ),
        event(
            6,
            t0 + timedelta(milliseconds=250),
            EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            activity_task_started_event_attributes={
                "scheduled_event_id": 5,
                "attempt": 3,
                "last_failure": {"message": "sandbox failed to start"},
            },
        ),
        event(
            7,
            t0 + timedelta(seconds=2),
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            activity_task_failed_event_attributes={
                "scheduled_event_id": 5,
                "failure": {"message": "worker lost"},
            },
        ),
        event(
            8,
            t0 + timedelta(seconds=3),
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
            workflow_execution_terminated_event_attributes={"reason": "stuck"},
        ),
    ]
    scheduled, started, failed, terminated = timeline(events)
    assert scheduled["activity"] == "regrade_chunk"
    assert (started["attempt"], started["waited_ms"]) == (3, 250)
    assert started["failure"] == "previous attempt failed: sandbox failed to start"
    assert (failed["activity"], failed["duration_ms"], failed["failure"]) == (
        "regrade_chunk",
        1750,
        "worker lost",
    )
    assert terminated["failure"] == "terminated: stuck" and terminated["offset_ms"] == 3000


def test_no_events_is_an_empty_timeline():
    assert timeline([]) == []


def test_a_search_becomes_one_visibility_query_with_its_values_quoted():
    sub = str(uuid.uuid4())
    assert visibility_query(sub, 7, None, "fall-26", None, "failed") == (
        f"WorkflowId = 'grade-{sub}' AND GradeflowUser = '7' AND GradeflowCohort = 'fall-26' "
        "AND ExecutionStatus = 'Failed'"
    )
    assert visibility_query(None, None, None, "o'brien\\x", None, None) == (
        "GradeflowCohort = 'o\\'brien\\\\x'"
    ), "a quote in a value cannot end the string early"
    assert visibility_query(None, None, None, "", None, None) == "", "an empty filter is no filter"


def test_an_unknown_status_is_refused_with_the_choices():
    with pytest.raises(ApiError) as refused:
        visibility_query(None, None, None, None, None, "exploded")
    assert refused.value.status_code == 422 and "running, completed, failed" in refused.value.detail


def test_only_grading_workflows_can_be_retried():
    sub = uuid.uuid4()
    assert submission_of(f"grade-{sub}") == sub
    with pytest.raises(ApiError) as refused:
        submission_of(f"regrade-{sub}")
    assert refused.value.status_code == 422 and "grade-<submission id>" in refused.value.detail


def test_languages_waiting_are_those_with_work_and_no_worker():
    from api.routes.ops.routes import waiting_languages

    served = {"python": "python 3.11", "c": "gcc 12"}
    waiting = waiting_languages({"python": 3, "c": 2, "java": 4, "javascript": 0}, served)
    assert [(w["language"], w["waiting"]) for w in waiting] == [("java", 4)]
    assert waiting[0]["title"] == "Java 17 (OpenJDK)"
    assert "no running worker grades it" in waiting[0]["why"] and "openjdk" in waiting[0]["why"]
    assert waiting_languages({"java": 4}, None) == [], "Redis cannot say: nothing claimed"
    # A regrade whose scope holds a language nobody grades waits too, and says so
    both = waiting_languages({"java": 1}, served, {"cpp": 2, "c": 1, "java": 1})
    assert [(w["language"], w["waiting"], w["regrades"]) for w in both] == [
        ("cpp", 0, 2),
        ("java", 1, 1),
    ]
