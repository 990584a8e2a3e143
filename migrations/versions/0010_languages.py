"""Languages: an assignment's function tests (for a compiled language's driver) and its language options (Java's
main class); a grading run without a score (a compile error grades nobody).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "assignments",
        sa.Column("function_tests", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.add_column(
        "assignments",
        sa.Column("language_options", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    # A compile error grades nobody: its run has no score
    op.alter_column("grading_runs", "score", nullable=True)


def downgrade() -> None:
    op.execute("UPDATE grading_runs SET score = 0 WHERE score IS NULL")
    op.alter_column("grading_runs", "score", nullable=False)
    op.drop_column("assignments", "language_options")
    op.drop_column("assignments", "function_tests")
