"""Initial schema: users, cohorts, enrollments, assignments, submissions, regrade batches, grading runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("role IN ('student', 'instructor', 'operator')", name="ck_users_role"),
    )
    op.create_table(
        "cohorts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(100), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
    )
    op.create_table(
        "enrollments",
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "cohort_id",
            sa.Integer,
            sa.ForeignKey("cohorts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(100), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("handout", sa.Text, nullable=False, server_default=""),
        sa.Column("order", sa.Integer, nullable=False, server_default="0"),
        sa.Column("points", sa.Integer, nullable=False, server_default="100"),
        sa.Column("language", sa.String(20), nullable=False, server_default="python"),
        sa.Column("test_code", sa.Text, nullable=False, server_default=""),
        sa.Column("io_cases", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("limits", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("test_version", sa.String(64), nullable=False),
        sa.Column("reference_solution", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
    )
    op.create_index("ix_assignments_order", "assignments", ["order", "id"])
    op.create_table(
        "submissions",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("assignment_id", sa.Integer, sa.ForeignKey("assignments.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("cohort_id", sa.Integer, sa.ForeignKey("cohorts.id"), nullable=True),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="queued"),
        sa.Column("passed", sa.Boolean, nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("verdict", sa.String(40), nullable=True),
        sa.Column("tests", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("test_version", sa.String(64), nullable=True),
        sa.Column("cached", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("cached_from", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("workflow_id", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'grading', 'graded', 'error')", name="ck_submissions_status"
        ),
    )
    op.create_index(
        "ix_submissions_user_assignment", "submissions", ["user_id", "assignment_id", "created_at"]
    )
    op.create_index(
        "ix_submissions_cache", "submissions", ["assignment_id", "code_hash", "test_version"]
    )
    op.create_index(
        "ix_submissions_queued",
        "submissions",
        ["created_at"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "uq_submissions_one_pending_per_user",
        "submissions",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('queued', 'grading')"),
    )
    op.create_table(
        "regrade_batches",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("cohort_id", sa.Integer, sa.ForeignKey("cohorts.id"), nullable=False),
        sa.Column("assignment_id", sa.Integer, sa.ForeignKey("assignments.id"), nullable=True),
        sa.Column("status", sa.String(20), nullable=False, server_default="running"),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("changed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("errors", sa.Integer, nullable=False, server_default="0"),
        sa.Column("workflow_id", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "grading_runs",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "submission_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("submissions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "regrade_batch_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("regrade_batches.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("test_version", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(40), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("tests", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("stdout", sa.Text, nullable=False, server_default=""),
        sa.Column("stderr", sa.Text, nullable=False, server_default=""),
        sa.Column("cpu_ms", sa.Integer, nullable=False, server_default="0"),
        sa.Column("wall_ms", sa.Integer, nullable=False, server_default="0"),
        sa.Column("peak_memory_kb", sa.Integer, nullable=False, server_default="0"),
        sa.Column("workflow_id", sa.String(100), nullable=False),
        sa.Column("run_id", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "submission_id",
            "regrade_batch_id",
            name="uq_grading_runs_submission_batch",
            postgresql_nulls_not_distinct=True,
        ),
    )


def downgrade() -> None:
    for table in (
        "grading_runs",
        "regrade_batches",
        "submissions",
        "assignments",
        "enrollments",
        "cohorts",
        "users",
    ):
        op.drop_table(table)
