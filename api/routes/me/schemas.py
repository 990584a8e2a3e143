"""The request and response models of the me routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import AssignmentOut, Body
from gradeflow.vocabulary import Role


class ProgressOut(BaseModel):
    points: float = Field(
        description="The sum of your grades: per assignment, its points x the share of tests passed x the "
        "submission's credit, from your best (or latest, as your cohort counts) graded submission"
    )
    points_possible: float = Field(0.0, description="The sum of the assignments' points")
    solved: list[int]
    total_assignments: int
    next_assignment: AssignmentOut | None = Field(
        description="The first unsolved assignment in course order"
    )


class MeOut(BaseModel):
    id: int
    name: str
    role: Role
    cohorts: list[str]
    cohort: str | None = Field(
        None,
        description="The cohort you work in now (PUT /me/cohort chooses among several): what you see and "
        "where your submissions count",
    )


class CohortChoice(Body):
    cohort: str = Field(min_length=1, max_length=100, description="The slug of a cohort you are in")
