"""Grading details: the verdict message, output excerpts, usage and which sandbox graded it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "submissions", sa.Column("details", postgresql.JSONB, nullable=False, server_default="{}")
    )
    op.add_column("grading_runs", sa.Column("message", sa.Text, nullable=False, server_default=""))
    op.add_column(
        "grading_runs", sa.Column("sandbox", sa.String(20), nullable=False, server_default="")
    )


def downgrade() -> None:
    op.drop_column("grading_runs", "sandbox")
    op.drop_column("grading_runs", "message")
    op.drop_column("submissions", "details")
