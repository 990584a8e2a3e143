"""Assignments: students read them in course order; instructors write them."""

from api.routes.assignments.routes import router

__all__ = ["router"]
