"""Courses that hold: who wrote an assignment (and what it was copied from), and the cohort a person in several
chose to work in.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "assignments",
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    op.add_column(
        "assignments",
        sa.Column("copied_from", sa.Integer, sa.ForeignKey("assignments.id", ondelete="SET NULL")),
    )
    op.add_column(
        "users",
        sa.Column(
            "current_cohort_id", sa.Integer, sa.ForeignKey("cohorts.id", ondelete="SET NULL")
        ),
    )


def downgrade() -> None:
    op.drop_column("users", "current_cohort_id")
    op.drop_column("assignments", "copied_from")
    op.drop_column("assignments", "created_by")
