"""Request and response models shared by several routers (each router's own sit beside it, in
`api/routes/<area>/schemas.py`), and the error answers every route documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.params import storable
from gradeflow import languages
from gradeflow.models import Assignment
from gradeflow.vocabulary import SubmissionStatus, Verdict


class Body(BaseModel):
    """A request body: unknown fields refused, and no text anywhere in it may hold what PostgreSQL cannot store
    (a NUL character, a lone surrogate): the 422 names the field."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        if isinstance(value, str):
            storable(value)
        return value


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error GradeFlow answers, whatever its status: what is wrong and what to do, in words."""

    detail: str = Field(description="What is wrong and what to do about it")
    errors: list[ValidationProblem] | None = Field(None, description="422: each invalid field")
    dependency: str | None = Field(None, description="503: the dependency that is unavailable")
    request_id: str | None = Field(
        None, description="500 and 503: the id under which the failure was logged"
    )
    # A few answers add context, e.g. 409's pending_submission_id
    model_config = ConfigDict(extra="allow")


ERROR_WORDS = {
    401: "No token, or an unknown or revoked one",
    403: "Your role may not do this",
    404: "Not found, or not yours to see",
    409: "Conflicts with the current state (the message says which)",
    413: "The request body or the code is too large",
    422: "Invalid input: the message names each field and what to fix",
    429: "Too many requests: wait for Retry-After seconds",
    431: "Request headers too large",
    500: "An unexpected failure, logged under request_id",
    503: "A dependency (PostgreSQL, Redis or Temporal) is unavailable: retry after Retry-After seconds",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the errors an operation can answer, all in the ErrorOut shape."""
    return {code: {"model": ErrorOut, "description": ERROR_WORDS[code]} for code in codes}


def merge_patch_body(schema: str) -> dict[str, Any]:
    """OpenAPI for a PATCH that also takes `application/merge-patch+json` (RFC 7396): a field left out keeps its
    value, an explicit null clears it (where it may be empty), an object merges field by field, a list is
    replaced whole."""
    ref = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
    return {"requestBody": {"content": {"application/merge-patch+json": ref}}}


def put_and_patch(router: Any, path: str, *, patch_name: str, body: str, **route: Any):
    """Register one handler for PUT and (named `patch_name`) for PATCH, whose body may also come as
    `application/merge-patch+json`: the same partial update either way (a field left out keeps its value)."""

    def register(handler):
        router.put(path, **route)(handler)
        router.patch(path, name=patch_name, openapi_extra=merge_patch_body(body), **route)(handler)
        return handler

    return register


# What any operation can answer: input and size limits, and failures of the platform itself.
ANY_REQUEST = (413, 422, 431, 500, 503)


SIGNED_IN = (*ANY_REQUEST, 401)


STAFF = (*SIGNED_IN, 403)


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("cannot be null: leave the field out to keep its current value")
    return value


STARTER_HELP = "Code students start from: their editor opens with it, and similarity reports do not count it as shared"


class LateWindow(BaseModel):
    hours: float = Field(
        gt=0, le=24 * 365, description="how long after the due date the window ends"
    )
    credit: float = Field(ge=0, le=1, description="the credit cap of a submission in it (0.5: 50%)")


class TermsOut(BaseModel):
    """A student's terms for an assignment, by the server's clock: their dates (an extension's, if granted), how
    much credit a submission now would get, and their submissions used and left."""

    release_at: datetime | None
    due_at: datetime | None
    closes_at: datetime | None
    late_windows: list[LateWindow]
    extended: bool
    submissions_used: int
    submissions_left: int | None
    min_minutes_between: int | None
    open_now: bool
    credit_now: float
    window_now: str
    message_now: str = Field(
        description="why a submission now would be refused; empty when it would not"
    )


class AssignmentOut(BaseModel):
    """What students see: never the test source or hidden tests."""

    id: int
    slug: str
    title: str
    handout: str
    order: int
    points: int
    language: str
    language_title: str = Field("", description='What people call it: "C (C17, gcc)"')
    editor_mode: str = Field("", description="The Ace editor mode that highlights it")
    time_factor: float = Field(
        1.0,
        description="The language's allowance on the time limits (a slow-starting runtime gets more)",
    )
    limits: dict[str, Any]
    examples: list[dict[str, Any]] = Field(
        default_factory=list, description="The visible I/O cases"
    )
    starter_code: str = Field("", description=STARTER_HELP)
    terms: TermsOut | None = Field(
        None, description="GET /assignments/{id} as a student: your dates and submissions"
    )


class AssignmentStaffOut(AssignmentOut):
    test_code: str
    io_cases: list[dict[str, Any]]
    function_tests: list[dict[str, Any]] = Field(default_factory=list)
    language_options: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(
        default_factory=list,
        description="What to know about it now: no running worker grades its language (and why)",
    )
    reference_solution: str | None
    test_version: str
    updated_at: datetime
    may_edit: bool = Field(
        True,
        description="Whether you may change it: you teach every cohort it is offered to (or you are an "
        "operator). Otherwise copy it: POST /assignments/{id}/copy",
    )
    copied_from: int | None = Field(None, description="The assignment it was copied from")


def assignment_out(a: Assignment, staff: bool, may_edit: bool = True) -> AssignmentOut:
    """An assignment as its reader may see it: students never see the tests or hidden I/O cases."""
    examples = [
        {"stdin": c["stdin"], "stdout": c["stdout"]}
        for c in a.io_cases or []
        if not c.get("hidden")
    ]
    language = languages.get(a.language)
    fields: dict[str, Any] = dict(
        id=a.id,
        slug=a.slug,
        title=a.title,
        handout=a.handout,
        order=a.position,
        points=a.points,
        language=a.language,
        language_title=language.title,
        editor_mode=language.ace_mode,
        time_factor=language.time_factor,
        limits=a.limits,
        examples=examples,
        starter_code=a.starter_code or "",
    )
    if staff:
        return AssignmentStaffOut(
            **fields,
            test_code=a.test_code,
            io_cases=a.io_cases or [],
            function_tests=a.function_tests or [],
            language_options=a.language_options or {},
            reference_solution=a.reference_solution,
            test_version=a.test_version,
            updated_at=a.updated_at,
            may_edit=may_edit,
            copied_from=a.copied_from,
        )
    return AssignmentOut(**fields)


class TestResultOut(BaseModel):
    name: str
    passed: bool
    message: str = Field(description="Why it failed; empty for hidden tests")
    points: int = 1
    hidden: bool = False


class SubmissionOut(BaseModel):
    id: str
    assignment_id: int
    user_id: int
    status: SubmissionStatus
    passed: bool | None
    score: float | None
    max_score: float
    verdict: Verdict | None
    tests: list[TestResultOut]
    message: str = Field(
        "", description="The verdict in words: the first failure, the exception and line, …"
    )
    stdout: str = Field("", description="The start of what the program printed")
    stderr: str = ""
    cpu_ms: int | None = None
    peak_memory_kb: int | None = None
    sandbox: str | None = Field(None, description="forkserver | fresh | unsafe (development only)")
    error: str | None
    test_error: str | None = Field(
        None,
        description="For the student's instructors and operators: why the "
        "assignment's tests failed to load, with the line",
    )
    cached: bool
    credit: float = Field(
        1.0, description="its credit cap: 1 on time, a late window's share after the due date"
    )
    late: bool = False
    window: str = Field("on time", description="the window it came in, in words")
    workflow_id: str | None
    created_at: str | None
    graded_at: str | None
    links: dict[str, str] = Field(default_factory=dict)
