"""Courses: assignments offered to cohorts with their own dates and policy, per-student extensions, and how each
submission's credit was derived.

Every existing cohort is offered every existing assignment, with no dates: a deployment upgraded to this keeps
working as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offerings",
        sa.Column(
            "cohort_id",
            sa.Integer,
            sa.ForeignKey("cohorts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "assignment_id",
            sa.Integer,
            sa.ForeignKey("assignments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("release_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "late_windows", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        sa.Column("max_submissions", sa.Integer, nullable=True),
        sa.Column("min_minutes_between", sa.Integer, nullable=True),
        sa.Column("policy_version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("ix_offerings_assignment", "offerings", ["assignment_id"])
    op.create_table(
        "extensions",
        sa.Column("cohort_id", sa.Integer, primary_key=True),
        sa.Column("assignment_id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("close_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("granted_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id", "assignment_id"],
            ["offerings.cohort_id", "offerings.assignment_id"],
            ondelete="CASCADE",
        ),
    )
    op.add_column("submissions", sa.Column("credit", sa.Float, nullable=False, server_default="1"))
    op.add_column(
        "submissions", sa.Column("late", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column(
        "submissions",
        sa.Column(
            "derivation", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
    )
    op.execute(
        "INSERT INTO offerings (cohort_id, assignment_id) SELECT c.id, a.id FROM cohorts c CROSS JOIN assignments a"
    )


def downgrade() -> None:
    op.drop_column("submissions", "derivation")
    op.drop_column("submissions", "late")
    op.drop_column("submissions", "credit")
    op.drop_table("extensions")
    op.drop_index("ix_offerings_assignment", "offerings")
    op.drop_table("offerings")
