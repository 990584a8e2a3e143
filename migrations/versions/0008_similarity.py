"""Similarity reports: each distinct code's fingerprints (once), reports per cohort and assignment, their ranked
pairs, instructors' reviews of pairs; and an assignment's starter code (which reports ignore).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)


def submission(name: str, primary_key: bool = False) -> sa.Column:
    return sa.Column(
        name,
        UUID,
        sa.ForeignKey("submissions.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.add_column(
        "assignments", sa.Column("starter_code", sa.Text, nullable=False, server_default="")
    )
    op.create_table(
        "code_fingerprints",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("scheme", sa.String(40), primary_key=True),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("hashes", postgresql.ARRAY(sa.BigInteger), nullable=False),
        sa.Column("starts", postgresql.ARRAY(sa.Integer), nullable=False),
        sa.Column("ends", postgresql.ARRAY(sa.Integer), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_table(
        "similarity_reports",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "cohort_id", sa.Integer, sa.ForeignKey("cohorts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "assignment_id",
            sa.Integer,
            sa.ForeignKey("assignments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fingerprinted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("candidates", sa.Integer, nullable=False, server_default="0"),
        sa.Column("workflow_id", sa.String(100), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')",
            name="ck_similarity_reports_status",
        ),
    )
    op.create_index(
        "ix_similarity_reports_scope",
        "similarity_reports",
        ["cohort_id", "assignment_id", "created_at"],
    )
    op.create_table(
        "similarity_pairs",
        sa.Column(
            "report_id",
            UUID,
            sa.ForeignKey("similarity_reports.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("rank", sa.Integer, primary_key=True),
        submission("a_submission"),
        submission("b_submission"),
        sa.Column("similarity", sa.Float, nullable=False),
        sa.Column("share_a", sa.Float, nullable=False),
        sa.Column("share_b", sa.Float, nullable=False),
        sa.Column("longest_lines", sa.Integer, nullable=False),
        sa.Column("fragments", postgresql.JSONB, nullable=False),
    )
    op.create_table(
        "similarity_reviews",
        submission("a_submission", primary_key=True),
        submission("b_submission", primary_key=True),
        sa.Column("review", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("reviewed_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column(
            "reviewed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "review IN ('open', 'flagged', 'dismissed')", name="ck_similarity_reviews"
        ),
    )


def downgrade() -> None:
    op.drop_table("similarity_reviews")
    op.drop_table("similarity_pairs")
    op.drop_index("ix_similarity_reports_scope", table_name="similarity_reports")
    op.drop_table("similarity_reports")
    op.drop_table("code_fingerprints")
    op.drop_column("assignments", "starter_code")
