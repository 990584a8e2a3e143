"""Alembic migrations for GradeFlow's PostgreSQL schema."""
