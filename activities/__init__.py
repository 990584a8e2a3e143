"""Temporal activities: grading in the sandbox, recording results in PostgreSQL and Redis."""
