"""The request and response models of the submissions routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import Body


class SubmissionCreate(Body):
    code: str = Field(
        description="Python source defining what the assignment asks for (UTF-8, at most 64 KiB)"
    )


class SubmissionCode(BaseModel):
    id: str
    code: str
