"""Cohorts for their instructors: who is in them and how far each student got."""

from api.routes.cohorts.routes import router

__all__ = ["router"]
