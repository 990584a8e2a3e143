"""Roster: a user's email and student (SIS) id, and when their token was revoked.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email", sa.String(254), nullable=True))
    op.add_column("users", sa.Column("sis_id", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_users_email", "users", ["email"], unique=True)
    op.create_index("ix_users_sis_id", "users", ["sis_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_users_sis_id", "users")
    op.drop_index("ix_users_email", "users")
    op.drop_column("users", "revoked_at")
    op.drop_column("users", "sis_id")
    op.drop_column("users", "email")
