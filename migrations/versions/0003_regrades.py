"""Regrades: the score a regrade replaced, batch timing and the cohort index the selection uses.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("grading_runs", sa.Column("previous_score", sa.Float, nullable=True))
    op.add_column(
        "regrade_batches", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_grading_runs_batch",
        "grading_runs",
        ["regrade_batch_id"],
        postgresql_where=sa.text("regrade_batch_id IS NOT NULL"),
    )
    op.create_index("ix_enrollments_cohort", "enrollments", ["cohort_id", "user_id"])
    op.create_check_constraint(
        "ck_regrade_batches_status",
        "regrade_batches",
        "status IN ('queued', 'running', 'paused', 'cancelling', 'cancelled', 'completed', 'failed')",
    )


def downgrade() -> None:
    op.drop_constraint("ck_regrade_batches_status", "regrade_batches")
    op.drop_index("ix_enrollments_cohort", "enrollments")
    op.drop_index("ix_grading_runs_batch", "grading_runs")
    op.drop_column("regrade_batches", "started_at")
    op.drop_column("grading_runs", "previous_score")
