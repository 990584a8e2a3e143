"""Submissions: accept code, answer identical code from the cache, queue the rest for grading, report status."""

from api.routes.submissions.routes import router

__all__ = ["router"]
