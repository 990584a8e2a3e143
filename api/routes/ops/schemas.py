"""The request and response models of the ops routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.schemas import Body


class OpsWorkflow(BaseModel):
    workflow_id: str
    run_id: str | None
    type: str
    status: str
    start_time: datetime | None
    close_time: datetime | None
    search_attributes: dict[str, str]
    temporal_ui: str | None = Field(None, description="This workflow in the Temporal Web UI")


class OpsHistory(BaseModel):
    workflow: OpsWorkflow
    history_length: int
    events: list[dict[str, Any]] = Field(
        description="event_id, time, offset_ms, type, activity, attempt, duration_ms, failure"
    )
    pending_activities: list[dict[str, Any]]


class OpsProblems(BaseModel):
    failed_workflows: list[OpsWorkflow]
    stuck_workflows: list[OpsWorkflow]
    submissions: list[dict[str, Any]] = Field(
        description="Submissions in error, or queued/grading too long"
    )
    languages_waiting: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Languages with work waiting and no running worker that grades them: "
        "{language, title, waiting (submissions queued or grading), regrades (regrades in progress whose "
        "scope holds the language), why}",
    )


class OpsMetrics(BaseModel):
    minutes: int
    intake_stream_length: int | None
    series: list[dict[str, Any]]


class TerminateRequest(Body):
    reason: str = Field("terminated by an operator", max_length=500)
