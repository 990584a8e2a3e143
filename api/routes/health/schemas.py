"""The request and response models of the health routes."""

from __future__ import annotations

from pydantic import BaseModel


class HealthOut(BaseModel):
    status: str
    database: str
    redis: str
    temporal: str
