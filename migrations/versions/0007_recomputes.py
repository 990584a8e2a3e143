"""The score ledger's recomputes: when an offering's terms or a student's extension change, the affected grades
are recounted from each submission's derivation (no code is run again), and every change is kept with its reason.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recomputes",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "cohort_id", sa.Integer, sa.ForeignKey("cohorts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "assignment_id",
            sa.Integer,
            sa.ForeignKey("assignments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked", sa.Integer, nullable=False, server_default="0"),
        sa.Column("changed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("workflow_id", sa.String(100), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'failed')", name="ck_recomputes_status"
        ),
    )
    op.create_index("ix_recomputes_cohort", "recomputes", ["cohort_id", "created_at"])
    op.create_table(
        "credit_changes",
        sa.Column(
            "recompute_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("recomputes.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "submission_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("submissions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("old_credit", sa.Float, nullable=False),
        sa.Column("new_credit", sa.Float, nullable=False),
        sa.Column("old_score", sa.Float, nullable=True),
        sa.Column("new_score", sa.Float, nullable=True),
        sa.Column("why", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credit_changes")
    op.drop_index("ix_recomputes_cohort", "recomputes")
    op.drop_table("recomputes")
