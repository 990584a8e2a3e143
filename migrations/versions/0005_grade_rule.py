"""A cohort's grade rule: a student's grade for an assignment is their best graded score, or their latest.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "cohorts",
        sa.Column("grade_rule", sa.String(10), nullable=False, server_default="best"),
    )
    op.create_check_constraint(
        "ck_cohorts_grade_rule", "cohorts", "grade_rule IN ('best', 'latest')"
    )


def downgrade() -> None:
    op.drop_constraint("ck_cohorts_grade_rule", "cohorts")
    op.drop_column("cohorts", "grade_rule")
