"""Similarity reports for the instructors of a cohort: start one for an assignment, follow it, read the pairs"""

from api.routes.similarity.routes import router

__all__ = ["router"]
