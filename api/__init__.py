"""The HTTP API (FastAPI): routes per resource under /api/v1."""
