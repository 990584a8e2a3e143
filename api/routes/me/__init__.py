"""The signed-in user: who they are, their submissions and their progress through the course."""

from api.routes.me.routes import router

__all__ = ["router"]
