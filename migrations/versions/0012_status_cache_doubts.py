"""The status cache's doubt: since when a pending status in Redis may be behind PostgreSQL (gradeflow.status_cache).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_cache_doubts",
        sa.Column("id", sa.Integer, primary_key=True),
        # Unix seconds, the recording process's clock (compared with the writers' stamps in Redis)
        sa.Column("since", sa.Float, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_status_cache_doubts_one_row"),
    )
    # A fresh deployment doubts every entry written before it started
    op.execute("INSERT INTO status_cache_doubts (id, since) VALUES (1, extract(epoch FROM now()))")


def downgrade() -> None:
    op.drop_table("status_cache_doubts")
