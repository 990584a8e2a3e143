"""Health: is each backing service reachable? 503 when one is not."""

from api.routes.health.routes import probes, router

__all__ = ["router", "probes"]
