"""Inputs checked at the edge, once: numbers that fit PostgreSQL's columns, text PostgreSQL can store (no NUL
character, no lone surrogate), bounded lengths. Path and query parameters are declared here; request bodies use
`api.schemas.Body`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

from api.errors import ApiError

INT32_MAX = 2**31 - 1  # PostgreSQL's integer
NUL_MESSAGE = "must not contain NUL characters (\\u0000); remove them"


def storable(value: str) -> str:
    """Text PostgreSQL can store: no NUL character, and no lone UTF-16 surrogate (JSON's "\\ud800" decodes to
    one; it has no UTF-8 form, so the database driver would fail on it)."""
    if "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"must be valid Unicode text: character {exc.start + 1} is a lone surrogate "
                f"(\\u{ord(value[exc.start]):04x}), which cannot be stored; remove it"
            ) from None
    return value


Text = Annotated[str, AfterValidator(storable)]


def uuid_of(value: str, what: str) -> uuid.UUID:
    """An id given as text (path or query) as a UUID, or a 422 that names what it should have been."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(422, f"'{value}' is not a {what} id (a UUID).") from None


AssignmentId = Annotated[int, Path(ge=1, le=INT32_MAX, description="An assignment's id")]
AssignmentFilter = Annotated[
    int | None, Query(ge=1, le=INT32_MAX, description="Only this assignment")
]
UserFilter = Annotated[int | None, Query(ge=1, le=INT32_MAX, description="Only this user's")]
CohortSlug = Annotated[Text, Path(max_length=100, description="A cohort's slug")]
UserName = Annotated[Text, Path(max_length=100, description="A user's login name")]
WorkflowId = Annotated[Text, Path(max_length=300, description="A Temporal workflow id")]
BatchId = Annotated[
    Text,
    Path(
        max_length=100,
        description="A regrade batch's id (a UUID)",
        json_schema_extra={"format": "uuid"},
    ),
]
ReportId = Annotated[
    Text,
    Path(
        max_length=100,
        description="A similarity report's id (a UUID)",
        json_schema_extra={"format": "uuid"},
    ),
]
SubmissionId = Annotated[
    Text,
    Path(
        max_length=100,
        description="A submission's id (a UUID)",
        json_schema_extra={"format": "uuid"},
    ),
]
SubmissionFilter = Annotated[
    Text | None, Query(max_length=100, description="Only this submission's (a UUID)")
]
CohortFilter = Annotated[
    Text | None, Query(max_length=100, description="Only this cohort's (its slug)")
]
BatchFilter = Annotated[Text | None, Query(max_length=100, description="Only this regrade batch's")]
