"""The request and response models of the similarity routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.params import INT32_MAX
from api.schemas import Body
from gradeflow.vocabulary import PairReview, ReportStatus


class SimilarityCreate(Body):
    cohort: str = Field(max_length=100, description="The cohort's slug")
    assignment_id: int = Field(ge=1, le=INT32_MAX, description="The assignment compared")


class SimilarityReview(Body):
    review: PairReview = Field(description="flagged, dismissed, or open again")
    note: str = Field("", max_length=2000)


class Fragment(BaseModel):
    a: list[int] = Field(description="first and last line in the first student's code")
    b: list[int] = Field(description="first and last line in the second student's code")
    fingerprints: int = Field(description="shared fingerprints in it (its size)")


class SimilarPairOut(BaseModel):
    rank: int
    a_student: str
    b_student: str
    a_submission: str
    b_submission: str
    similarity: float = Field(description="2 x shared / (fingerprints of A + of B), 0 to 1")
    share_a: float = Field(description="share of A's fingerprints that B also has")
    share_b: float
    longest_lines: int = Field(description="lines of the largest shared fragment (in A)")
    review: PairReview = PairReview.OPEN
    note: str = ""


class SimilarPairDetail(SimilarPairOut):
    a_code: str
    b_code: str
    fragments: list[Fragment]


class SimilarityReportOut(BaseModel):
    id: str
    cohort: str
    assignment_id: int
    status: ReportStatus
    created_at: datetime
    cutoff: datetime = Field(description="submissions received up to here are compared")
    finished_at: datetime | None = None
    total: int = Field(description="students' latest submissions compared")
    fingerprinted: int
    candidates: int = Field(description="pairs that share a fingerprint, scored")
    newer: int = Field(
        0,
        description="students whose latest submission came after the cutoff: start a new report to include them",
    )
    error: str | None = None
    pairs: list[SimilarPairOut] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)
