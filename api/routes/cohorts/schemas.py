"""The request and response models of the cohorts routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from api.schemas import Body, LateWindow, _not_null
from gradeflow.vocabulary import GradeRule, Role


class CohortOut(BaseModel):
    slug: str
    title: str
    students: int


class MemberIn(Body):
    who: str = Field(
        min_length=1,
        max_length=254,
        description="Their login name, email or SIS id (already on GradeFlow)",
    )
    role: Role | None = Field(
        None, description="Their role, as a check: refused when they have another one"
    )


class MemberOut(BaseModel):
    name: str
    role: Role
    email: str | None = None
    sis_id: str | None = None


class MembershipOut(BaseModel):
    cohort: str
    member: MemberOut
    changed: bool = Field(
        description="false when nothing had to change (already in it, on enrolling)"
    )


class RosterImport(Body):
    csv: str = Field(
        max_length=900_000,
        description="The roster as CSV text: a header row naming its columns (name, and optionally email, "
        "sis_id, role: student or instructor), then one row per person.",
        examples=["name,email,sis_id\nada.l,ada@example.edu,S1001\n"],
    )


class RosterPerson(BaseModel):
    name: str
    email: str | None
    sis_id: str | None
    role: Role
    token: str = Field(
        description="Their API token: shown only in this answer (it is stored hashed)."
    )


class RosterOut(BaseModel):
    cohort: str
    created: list[RosterPerson]
    enrolled: list[str] = Field(
        description="Already on GradeFlow, now in the cohort (their tokens unchanged)."
    )
    already: list[str] = Field(description="Already in the cohort: nothing changed.")


class Dates(Body):
    """A body with dates: each with its time zone, between 2000 and 2200."""

    @field_validator("*", mode="after")
    @classmethod
    def _sane_date(cls, value: Any) -> Any:
        if isinstance(value, datetime) and not (
            datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime(2200, 1, 1, tzinfo=UTC)
        ):
            raise ValueError("must be a date between 2000 and 2200")
        return value


class OfferingIn(Dates):
    """An assignment's terms in a cohort: a field left out keeps its value (a new offering starts with none), an
    explicit null clears it (no date: no limit)."""

    release_at: AwareDatetime | None = Field(None, description="invisible to students before")
    due_at: AwareDatetime | None = Field(None, description="full credit up to")
    close_at: AwareDatetime | None = Field(
        None,
        description="refused from (default: when the last late window ends, else the due date)",
    )
    late_windows: list[LateWindow] | None = Field(
        None,
        max_length=10,
        description="after the due date, each with its credit cap (null or []: none)",
    )
    max_submissions: int | None = Field(None, ge=1, le=10_000)
    min_minutes_between: int | None = Field(None, ge=1, le=7 * 24 * 60)


class CreditChangeOut(BaseModel):
    student: str
    submission_id: str
    old_credit: float
    new_credit: float
    old_score: float | None
    new_score: float | None
    why: str


class RecomputeOut(BaseModel):
    """A recount of grades after terms changed: no code is run again."""

    id: str
    status: Literal["running", "completed", "failed"]
    reason: str
    assignment_id: int | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    checked: int = Field(description="graded submissions looked at")
    changed: int = Field(description="whose credit, and so score, changed")
    changes: list[CreditChangeOut] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)


class OfferingOut(BaseModel):
    cohort: str
    assignment_id: int
    title: str
    release_at: datetime | None
    due_at: datetime | None
    close_at: datetime | None
    late_windows: list[LateWindow]
    max_submissions: int | None
    min_minutes_between: int | None
    policy_version: int
    extensions: int
    recompute: RecomputeOut | None = Field(
        None, description="The recount of the grades these terms changed, if any were graded"
    )


class ExtensionIn(Dates):
    """A student's own dates; a new extension needs due_at and reason, a change only what changes."""

    due_at: AwareDatetime | SkipJsonSchema[None] = Field(
        None, description="the student's own due date, later than the cohort's"
    )
    close_at: AwareDatetime | None = Field(
        None,
        description="their own close (default: when the late windows end after their due date)",
    )
    reason: str | SkipJsonSchema[None] = Field(
        None, max_length=500, description="why it is granted"
    )

    @field_validator("due_at", "reason", mode="before")
    @classmethod
    def not_null(cls, v: Any) -> Any:
        return _not_null(v)


class ExtensionOut(BaseModel):
    cohort: str
    assignment_id: int
    student: str
    due_at: datetime
    close_at: datetime | None
    granted_by: str
    reason: str
    created_at: datetime
    recompute: RecomputeOut | None = None


class GradebookColumn(BaseModel):
    id: int
    title: str
    points: float


class GradebookStudent(BaseModel):
    name: str
    email: str | None
    sis_id: str | None
    grades: dict[str, float | None] = Field(
        description="assignment id -> grade (points x share of test points earned); null: nothing graded"
    )
    total: float


class GradebookOut(BaseModel):
    cohort: str
    rule: GradeRule = Field(description="best: a student's best graded score; latest: their latest")
    assignments: list[GradebookColumn]
    students: list[GradebookStudent]
    points_possible: float


class CohortMatrix(BaseModel):
    cohort: str
    assignments: list[dict[str, Any]]
    students: list[dict[str, Any]] = Field(
        description="id, name, cells: {assignment id: {state (solved, attempted or missing: past the "
        "student's due date with nothing submitted), best_score, attempts, late (their work came only after "
        "the due date)}}; an absent cell is not started (and not yet due)"
    )
