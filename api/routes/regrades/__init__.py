"""Regrades: instructors re-grade a cohort (or one assignment across it), watch, pause, resume, cancel it, and"""

from api.routes.regrades.routes import router

__all__ = ["router"]
