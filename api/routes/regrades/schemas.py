"""The request and response models of the regrades routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.params import INT32_MAX
from api.schemas import Body
from gradeflow.vocabulary import BatchStatus


class RegradeCreate(Body):
    cohort: str = Field(max_length=100, description="The cohort's slug")
    assignment_id: int | None = Field(
        None, ge=1, le=INT32_MAX, description="Only this assignment; all assignments when omitted"
    )
    page_size: int = Field(500, ge=1, le=5000, description="Submissions fetched per page (tuning)")
    chunk_size: int = Field(
        100, ge=1, le=500, description="Submissions graded per activity (tuning)"
    )
    pages_per_run: int = Field(
        10, ge=1, le=1000, description="Pages per workflow run before continuing as new"
    )
    strategy: Literal["chunks", "children"] = Field(
        "chunks",
        description="chunks: one activity per chunk (default, measured cheaper); children: one child "
        "workflow per submission",
    )


class RegradeOut(BaseModel):
    id: str
    cohort: str
    assignment_id: int | None
    status: BatchStatus
    total: int
    done: int
    changed: int
    errors: int
    rate_per_second: float
    eta_seconds: float | None
    workflow_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    actions: list[Literal["pause", "resume", "cancel"]] = Field(
        default_factory=list,
        description="What the batch allows now: POST /regrades/{id}/<action>. Empty once it has ended.",
    )
    links: dict[str, str] = Field(default_factory=dict)


class RegradeChange(BaseModel):
    student: str
    assignment_id: int
    assignment: str
    old_score: float | None
    new_score: float | None
    submission_id: str
