"""Database tables: PostgreSQL is GradeFlow's source of truth."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gradeflow.vocabulary import (
    PENDING_STATUSES,
    BatchStatus,
    GradeRule,
    PairReview,
    RecountStatus,
    ReportStatus,
    Role,
    SubmissionStatus,
    Verdict,
)

JSONType = JSON().with_variant(JSONB(), "postgresql")

# The verdict of a grading whose tests failed to load: the instructor's to fix, never retried, never scored.
TEST_ERROR = Verdict.TEST_ERROR
TESTS_BROKEN = (
    "The tests of this assignment are broken; your instructor has been told. Submit again once they "
    "are fixed."
)


class Base(DeclarativeBase):
    pass


def one_of(column: str, values: Iterable[StrEnum]) -> str:
    """A condition for a CHECK constraint or a partial index: the column holds one of these vocabulary values."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def equals(column: str, value: StrEnum) -> str:
    """A partial index's condition: the column holds this vocabulary value."""
    return f"{column} = {str(value)!r}"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(one_of("role", Role), name="ck_users_role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # From a roster: how the school knows them (both unique; a gradebook export matches on them).
    email: Mapped[str | None] = mapped_column(String(254), index=True, unique=True)
    sis_id: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    # Set when their token was revoked (the stored hash then matches no token); cleared by a new token.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The cohort they chose to work in (someone in several cohorts); their oldest cohort when unset or left.
    current_cohort_id: Mapped[int | None] = mapped_column(
        ForeignKey("cohorts.id", ondelete="SET NULL"), nullable=True
    )


class Cohort(Base):
    __tablename__ = "cohorts"
    __table_args__ = (
        CheckConstraint(one_of("grade_rule", GradeRule), name="ck_cohorts_grade_rule"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # A student's grade for an assignment: their best graded score, or their latest (gradebook, progress).
    grade_rule: Mapped[str] = mapped_column(
        String(10), default=GradeRule.BEST, server_default=GradeRule.BEST.value
    )


class Enrollment(Base):
    __tablename__ = "enrollments"
    # A cohort's members (the primary key serves a user's cohorts).
    __table_args__ = (Index("ix_enrollments_cohort", "cohort_id", "user_id"),)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    cohort_id: Mapped[int] = mapped_column(
        ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True
    )


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_order", "order", "id"),)  # the course order
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    handout: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column("order", Integer, default=0)
    points: Mapped[int] = mapped_column(Integer, default=100)
    language: Mapped[str] = mapped_column(String(20), default="python")
    test_code: Mapped[str] = mapped_column(Text, default="")
    io_cases: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    limits: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Compiled languages: the driver's cases ({name, stdin, stdout, points, hidden}); the driver is test_code
    function_tests: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, default=list, server_default="[]"
    )
    # What the language needs to know besides the code (Java: main_class)
    language_options: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=dict, server_default="{}"
    )
    # Content hash of tests + limits: keys the result cache and tells regrades what changed.
    test_version: Mapped[str] = mapped_column(String(64))
    reference_solution: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Code handed to students to start from: their editor opens with it, and similarity reports ignore it.
    starter_code: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Who wrote (or copied) it: they may edit it while it is offered to no cohort (see api.offerings.may_edit).
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # The assignment it was copied from, if any.
    copied_from: Mapped[int | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Submission(Base):
    __tablename__ = "submissions"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"), nullable=True)
    code: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=SubmissionStatus.QUEUED)
    passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str | None] = mapped_column(String(40), nullable=True)
    tests: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # The test version the current score was computed with.
    test_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    cached_from: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The latest grading's message, stdout/stderr excerpts, cpu_ms, wall_ms, peak_memory_kb and sandbox.
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Its credit cap (1: on time; a late window's share), whether it came late, and how that was derived
    # (received at, effective due date, window, policy version): its score is points x share x credit.
    credit: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    derivation: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=dict, server_default=text("'{}'::jsonb")
    )
    workflow_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    graded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        CheckConstraint(one_of("status", SubmissionStatus), name="ck_submissions_status"),
        Index("ix_submissions_user_assignment", "user_id", "assignment_id", "created_at"),
        Index("ix_submissions_cache", "assignment_id", "code_hash", "test_version"),
        Index(
            "ix_submissions_queued",
            "created_at",
            postgresql_where=text(equals("status", SubmissionStatus.QUEUED)),
        ),
        # At most one pending submission per user, enforced by the database so concurrent POSTs cannot race.
        Index(
            "uq_submissions_one_pending_per_user",
            "user_id",
            unique=True,
            postgresql_where=text(one_of("status", PENDING_STATUSES)),
        ),
    )


class RegradeBatch(Base):
    __tablename__ = "regrade_batches"
    __table_args__ = (
        CheckConstraint(one_of("status", BatchStatus), name="ck_regrade_batches_status"),
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=BatchStatus.QUEUED)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    workflow_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class GradingRun(Base):
    __tablename__ = "grading_runs"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE")
    )
    regrade_batch_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("regrade_batches.id", ondelete="CASCADE"), nullable=True
    )
    test_version: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(40))
    passed: Mapped[bool] = mapped_column(Boolean)
    # None: the verdict graded nobody (a compile error)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    # For a regrade: the submission's score before it (the changes report compares the two).
    previous_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float] = mapped_column(Float)
    tests: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    message: Mapped[str] = mapped_column(Text, default="")
    sandbox: Mapped[str] = mapped_column(String(20), default="")
    stdout: Mapped[str] = mapped_column(Text, default="")
    stderr: Mapped[str] = mapped_column(Text, default="")
    cpu_ms: Mapped[int] = mapped_column(Integer, default=0)
    wall_ms: Mapped[int] = mapped_column(Integer, default=0)
    peak_memory_kb: Mapped[int] = mapped_column(Integer, default=0)
    workflow_id: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[str] = mapped_column(String(100))
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # A batch's gradings (the changes report); live gradings have no batch and stay out of the index.
        Index(
            "ix_grading_runs_batch",
            "regrade_batch_id",
            postgresql_where=text("regrade_batch_id IS NOT NULL"),
        ),
        # One grading per (submission, batch); NULL batch = the first grading. A retried batch never grades twice.
        UniqueConstraint(
            "submission_id",
            "regrade_batch_id",
            name="uq_grading_runs_submission_batch",
            postgresql_nulls_not_distinct=True,
        ),
    )


class Offering(Base):
    """An assignment offered to a cohort, with the cohort's own dates and policy (no dates: always open)."""

    __tablename__ = "offerings"
    __table_args__ = (Index("ix_offerings_assignment", "assignment_id"),)
    cohort_id: Mapped[int] = mapped_column(
        ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True
    )
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), primary_key=True
    )
    release_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Submissions refused from then on (None: when the last late window ends, or at the due date without one).
    close_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # [{"hours": after the due date, "credit": the cap, 0-1}], in order: a late submission gets the first window
    # it falls in.
    late_windows: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, default=list, server_default=text("'[]'::jsonb")
    )
    max_submissions: Mapped[int | None] = mapped_column(Integer)
    min_minutes_between: Mapped[int | None] = mapped_column(Integer)
    policy_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class Extension(Base):
    """One student's own dates for an offering: who granted them, and why."""

    __tablename__ = "extensions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["cohort_id", "assignment_id"],
            ["offerings.cohort_id", "offerings.assignment_id"],
            ondelete="CASCADE",
        ),
    )
    cohort_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    close_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Recompute(Base):
    """One recount of grades after an offering's terms or a student's extension changed: no code is run again."""

    __tablename__ = "recomputes"
    __table_args__ = (
        CheckConstraint(one_of("status", RecountStatus), name="ck_recomputes_status"),
        Index("ix_recomputes_cohort", "cohort_id", "created_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=RecountStatus.RUNNING)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    changed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    workflow_id: Mapped[str | None] = mapped_column(String(100))


class CreditChange(Base):
    """The ledger: a submission whose credit a recompute changed, from what to what, and why."""

    __tablename__ = "credit_changes"
    recompute_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recomputes.id", ondelete="CASCADE"), primary_key=True
    )
    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    old_credit: Mapped[float] = mapped_column(Float)
    new_credit: Mapped[float] = mapped_column(Float)
    old_score: Mapped[float | None] = mapped_column(Float)
    new_score: Mapped[float | None] = mapped_column(Float)
    why: Mapped[str] = mapped_column(Text)


class CodeFingerprints(Base):
    """A distinct code's winnowed fingerprints (gradeflow.fingerprints), computed once and kept: by its hash (the
    result cache's key) and the scheme (language, k, window) that produced them."""

    __tablename__ = "code_fingerprints"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(40), primary_key=True)
    tokens: Mapped[int] = mapped_column(Integer)
    hashes: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    starts: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    ends: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SimilarityReport(Base):
    """Who may have copied from whom in one cohort's submissions of one assignment (each student's latest), as
    of `cutoff`: computed by the SimilarityReport workflow."""

    __tablename__ = "similarity_reports"
    __table_args__ = (
        CheckConstraint(one_of("status", ReportStatus), name="ck_similarity_reports_status"),
        Index("ix_similarity_reports_scope", "cohort_id", "assignment_id", "created_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=ReportStatus.QUEUED)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Submissions received up to here are in the report; later ones make it out of date.
    cutoff: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # students' codes
    fingerprinted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    candidates: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # pairs scored
    workflow_id: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)


class SimilarPair(Base):
    """One pair of a report, ranked: both students' submissions, how much they share and where."""

    __tablename__ = "similarity_pairs"
    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("similarity_reports.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    a_submission: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE")
    )
    b_submission: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE")
    )
    similarity: Mapped[float] = mapped_column(Float)
    share_a: Mapped[float] = mapped_column(Float)
    share_b: Mapped[float] = mapped_column(Float)
    longest_lines: Mapped[int] = mapped_column(Integer)
    # [{"a": [first, last], "b": [first, last], "fingerprints": n}], longest first
    fragments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)


class PairNote(Base):
    """An instructor's review of a pair of submissions (kept across reports): flagged or dismissed, with a note."""

    __tablename__ = "similarity_reviews"
    __table_args__ = (CheckConstraint(one_of("review", PairReview), name="ck_similarity_reviews"),)
    a_submission: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    b_submission: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    review: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class SignInSession(Base):
    """A browser's sign-in that is not the user's API token: an LMS launch signs the person in with a token of
    its own, which ends on its own (expires_at) without touching their API token or other browsers."""

    __tablename__ = "sign_in_sessions"
    __table_args__ = (Index("ix_sign_in_sessions_user", "user_id"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LtiPlatform(Base):
    """An LMS registered with GradeFlow as an LTI 1.3 platform: who it is (issuer, the client id it gave us), where
    its endpoints and key set are, and which deployments of GradeFlow in it are trusted."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id", name="uq_lti_platforms_client"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    key_set_url: Mapped[str] = mapped_column(String(1000))
    deployment_ids: Mapped[list[str]] = mapped_column(
        JSONType, default=list, server_default=text("'[]'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LtiKey(Base):
    """GradeFlow's own signing keys (RS256), published in its key set. The newest key not retired signs; a rotated
    key stays published until it is retired, so what it signed can still be checked."""

    __tablename__ = "lti_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LtiIdentity(Base):
    """A person as an LMS knows them (issuer's platform and `sub`): the GradeFlow user they launch as."""

    __tablename__ = "lti_identities"
    __table_args__ = (Index("ix_lti_identities_user", "user_id"),)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), primary_key=True
    )
    sub: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class LtiContext(Base):
    """An LMS course (context) as a GradeFlow cohort, with the service endpoints its launches named."""

    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("cohort_id", name="uq_lti_contexts_cohort"),)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), primary_key=True
    )
    context_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # Names and Role Provisioning: the memberships URL; Assignment and Grade Services: the line items URL
    memberships_url: Mapped[str | None] = mapped_column(String(1000))
    lineitems_url: Mapped[str | None] = mapped_column(String(1000))


class LtiLink(Base):
    """An LMS link (resource link) bound to an offering: launching it opens that assignment; its line item, when
    the LMS gave one, receives the students' grades."""

    __tablename__ = "lti_links"
    # The links of an offering (the grade-marking trigger looks them up on every score change)
    __table_args__ = (Index("ix_lti_links_offering", "cohort_id", "assignment_id"),)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), primary_key=True
    )
    resource_link_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    lineitem_url: Mapped[str | None] = mapped_column(String(1000))


class LtiGradePost(Base):
    """A student's grade for an LMS link, to be sent to its line item: marked (marked_at) by the database itself
    whenever one of their submissions' scores changes (a trigger on submissions, so no path that changes a grade
    can forget it, and the mark commits with the grade), sent by the PostGrades workflow of the platform. Pending
    while posted_mark differs from marked_at; a mark made while a post was under way stays pending."""

    __tablename__ = "lti_grade_posts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["platform_id", "resource_link_id"],
            ["lti_links.platform_id", "lti_links.resource_link_id"],
            ondelete="CASCADE",
        ),
        Index("ix_lti_grade_posts_pending", "platform_id", "marked_at"),
    )
    platform_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_link_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    posted_mark: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    posted_score: Mapped[float | None] = mapped_column(Float)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)


class StatusCacheDoubt(Base):
    """Up to when a pending status in Redis may be behind PostgreSQL (one row; gradeflow.status_cache.Doubt reads
    and writes it with plain SQL)."""

    __tablename__ = "status_cache_doubts"
    __table_args__ = (CheckConstraint("id = 1", name="ck_status_cache_doubts_one_row"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unix seconds, the recording process's clock (compared with the writers' stamps in Redis)
    since: Mapped[float] = mapped_column(Float)
