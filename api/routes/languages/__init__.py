"""Languages: what GradeFlow grades, and whether a running worker grades each now."""

from api.routes.languages.routes import router

__all__ = ["router"]
