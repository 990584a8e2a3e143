"""Request and response models (separate from the table models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from activities.sandbox import DEFAULT_LIMITS


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cpu_seconds: float = Field(DEFAULT_LIMITS["cpu_seconds"], ge=0.1, le=30, description="CPU time per run")
    wall_seconds: float = Field(DEFAULT_LIMITS["wall_seconds"], ge=0.5, le=60, description="Wall-clock time per run")
    memory_mb: int = Field(int(DEFAULT_LIMITS["memory_mb"]), ge=32, le=2048, description="Address space in MiB")
    output_kb: int = Field(int(DEFAULT_LIMITS["output_kb"]), ge=1, le=16384, description="stdout/stderr cap, KiB")


def _check_python(source: str, what: str) -> str:
    try:
        compile(source, what, "exec")
    except SyntaxError as exc:
        raise ValueError(f"{what} has a syntax error on line {exc.lineno}: {exc.msg}") from None
    return source


class AssignmentBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    handout: str = Field("", max_length=100_000, description="Markdown shown to students")
    order: int = Field(0, description="Position in the course; students work through assignments in this order")
    points: int = Field(100, ge=1, le=10_000)
    test_code: str = Field(min_length=1, max_length=200_000,
                           description="unittest source; tests import the student's code as `solution`")
    limits: Limits = Field(default_factory=Limits)
    reference_solution: str | None = Field(None, max_length=65_536)

    @field_validator("test_code")
    @classmethod
    def tests_compile(cls, v: str) -> str:
        return _check_python(v, "test_code")


class AssignmentCreate(AssignmentBase):
    slug: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,99}$",
                             description="URL-friendly name; derived from the title when omitted")


class AssignmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, min_length=1, max_length=200)
    handout: str | None = Field(None, max_length=100_000)
    order: int | None = None
    points: int | None = Field(None, ge=1, le=10_000)
    test_code: str | None = Field(None, min_length=1, max_length=200_000)
    limits: Limits | None = None
    reference_solution: str | None = Field(None, max_length=65_536)

    @field_validator("test_code")
    @classmethod
    def tests_compile(cls, v: str | None) -> str | None:
        return None if v is None else _check_python(v, "test_code")


class AssignmentOut(BaseModel):
    """What students see: never the test source or hidden tests."""
    id: int
    slug: str
    title: str
    handout: str
    order: int
    points: int
    language: str
    limits: dict[str, Any]


class AssignmentStaffOut(AssignmentOut):
    test_code: str
    reference_solution: str | None
    test_version: str
    updated_at: datetime


class SubmissionCreate(BaseModel):
    code: str = Field(description="Python source defining what the assignment asks for (UTF-8, at most 64 KiB)")


class TestResultOut(BaseModel):
    name: str
    passed: bool
    message: str


class SubmissionOut(BaseModel):
    id: str
    assignment_id: int
    user_id: int
    status: str = Field(description="queued | grading | graded | error")
    passed: bool | None
    score: float | None
    max_score: float
    verdict: str | None
    tests: list[TestResultOut]
    error: str | None
    cached: bool
    workflow_id: str | None
    created_at: str | None
    graded_at: str | None
    links: dict[str, str] = Field(default_factory=dict)


class ProgressOut(BaseModel):
    points: int = Field(description="100 per distinct solved assignment")
    solved: list[int]
    total_assignments: int
    next_assignment: AssignmentOut | None = Field(description="The first unsolved assignment in course order")


class MeOut(BaseModel):
    id: int
    name: str
    role: str
    cohorts: list[str]


class HealthOut(BaseModel):
    status: str
    database: str
    redis: str
    temporal: str
