"""Request and response models (separate from the table models)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from api.params import INT32_MAX, storable
from gradeflow.limits import DEFAULT_LIMITS, LIMIT_BOUNDS
from gradeflow.models import Assignment
from gradeflow.vocabulary import (
    BatchStatus,
    GradeRule,
    PairReview,
    ReportStatus,
    Role,
    SubmissionStatus,
    Verdict,
)


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


class Limits(Body):
    cpu_seconds: float = Field(
        DEFAULT_LIMITS["cpu_seconds"],
        ge=LIMIT_BOUNDS["cpu_seconds"][0],
        le=LIMIT_BOUNDS["cpu_seconds"][1],
        description="CPU time per run",
    )
    wall_seconds: float = Field(
        DEFAULT_LIMITS["wall_seconds"],
        ge=LIMIT_BOUNDS["wall_seconds"][0],
        le=LIMIT_BOUNDS["wall_seconds"][1],
        description="Wall-clock time per run",
    )
    memory_mb: int = Field(
        int(DEFAULT_LIMITS["memory_mb"]),
        ge=LIMIT_BOUNDS["memory_mb"][0],
        le=LIMIT_BOUNDS["memory_mb"][1],
        description="Address space in MiB",
    )
    output_kb: int = Field(
        int(DEFAULT_LIMITS["output_kb"]),
        ge=LIMIT_BOUNDS["output_kb"][0],
        le=LIMIT_BOUNDS["output_kb"][1],
        description="stdout/stderr cap, KiB",
    )


def _check_python(source: str, what: str) -> str:
    try:
        compile(source, what, "exec")
    except SyntaxError as exc:
        raise ValueError(f"{what} has a syntax error on line {exc.lineno}: {exc.msg}") from None
    return source


class IOCase(Body):
    """Run the submission as a program on `stdin`; it passes when its stdout equals `stdout` (trailing
    whitespace on each line and trailing blank lines ignored)."""

    stdin: str = Field("", max_length=1_000_000)
    stdout: str = Field(max_length=1_000_000)
    points: int = Field(1, ge=0, le=1000)
    hidden: bool = Field(False, description="students see only whether a hidden case passed")


TEST_CODE_HELP = (
    "unittest source; tests import the student's code as `solution` (`import solution`, "
    "`from solution import f`, `from solution import *`), whose calls run in the sandbox and return "
    "plain data. Tests in a class named Hidden… or a method named test_hidden… are hidden."
)


STARTER_HELP = "Code students start from: their editor opens with it, and similarity reports do not count it as shared"


class GradingSpec(Body):
    """What a submission is graded against: unittest tests, I/O cases (at least one of the two) and limits."""

    test_code: str = Field("", max_length=200_000, description=TEST_CODE_HELP)
    io_cases: list[IOCase] = Field(default_factory=list, max_length=50)
    limits: Limits = Field(default_factory=lambda: Limits())

    @field_validator("test_code")
    @classmethod
    def tests_compile(cls, v: str) -> str:
        return _check_python(v, "test_code") if v else v

    @model_validator(mode="after")
    def has_tests(self):
        if not self.test_code.strip() and not self.io_cases:
            raise ValueError("an assignment needs test_code, io_cases or both")
        return self


class AssignmentBase(GradingSpec):
    title: str = Field(min_length=1, max_length=200)
    handout: str = Field("", max_length=100_000, description="Markdown shown to students")
    order: int = Field(
        0,
        ge=-INT32_MAX,
        le=INT32_MAX,
        description="Position in the course; students work through assignments in this order",
    )
    points: int = Field(100, ge=1, le=10_000)
    reference_solution: str | None = Field(None, max_length=65_536)
    starter_code: str = Field("", max_length=65_536, description=STARTER_HELP)


class AssignmentCreate(AssignmentBase):
    slug: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,99}$",
        description="URL-friendly name; derived from the title when omitted",
    )


class AssignmentUpdate(Body):
    """The fields to change; a field left out keeps its value. Only reference_solution may be null (removes it)."""

    title: str | SkipJsonSchema[None] = Field(None, min_length=1, max_length=200)
    handout: str | SkipJsonSchema[None] = Field(None, max_length=100_000)
    order: int | SkipJsonSchema[None] = Field(None, ge=-INT32_MAX, le=INT32_MAX)
    points: int | SkipJsonSchema[None] = Field(None, ge=1, le=10_000)
    test_code: str | SkipJsonSchema[None] = Field(
        None, max_length=200_000, description=TEST_CODE_HELP
    )
    io_cases: list[IOCase] | SkipJsonSchema[None] = Field(None, max_length=50)
    limits: Limits | SkipJsonSchema[None] = None
    reference_solution: str | None = Field(None, max_length=65_536)
    starter_code: str | SkipJsonSchema[None] = Field(
        None, max_length=65_536, description=STARTER_HELP
    )

    @field_validator(
        "title",
        "handout",
        "order",
        "points",
        "test_code",
        "io_cases",
        "limits",
        "starter_code",
        mode="before",
    )
    @classmethod
    def not_null(cls, v: Any) -> Any:
        return _not_null(v)

    @field_validator("test_code")
    @classmethod
    def tests_compile(cls, v: str | None) -> str | None:
        return _check_python(v, "test_code") if v else v


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
    reference_solution: str | None
    test_version: str
    updated_at: datetime
    may_edit: bool = Field(
        True,
        description="Whether you may change it: you teach every cohort it is offered to (or you are an "
        "operator). Otherwise copy it: POST /assignments/{id}/copy",
    )
    copied_from: int | None = Field(None, description="The assignment it was copied from")


class AssignmentCopy(Body):
    """Where the copy goes and what it is called; every field may be left out."""

    cohort: str | None = Field(
        None,
        max_length=100,
        description="The cohort (one you teach) to offer the copy to; default: the cohorts you teach that "
        "offer the original, else every cohort you teach",
    )
    title: str | None = Field(
        None, min_length=1, max_length=200, description="default: the original's"
    )
    slug: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,99}$",
        description="default: the original's with the cohort's slug after it",
    )


class AssignmentCopyOut(AssignmentStaffOut):
    replaced_in: list[str] = Field(
        description="Cohorts where the copy took the original's place, with the original's dates and "
        "extensions (nobody there had submitted to the original)"
    )
    original_kept_in: list[str] = Field(
        description="Cohorts that keep offering the original beside the copy, because their students "
        "submitted to it"
    )


class SubmissionCreate(Body):
    code: str = Field(
        description="Python source defining what the assignment asks for (UTF-8, at most 64 KiB)"
    )


def assignment_out(a: Assignment, staff: bool, may_edit: bool = True) -> AssignmentOut:
    """An assignment as its reader may see it: students never see the tests or hidden I/O cases."""
    examples = [
        {"stdin": c["stdin"], "stdout": c["stdout"]}
        for c in a.io_cases or []
        if not c.get("hidden")
    ]
    fields: dict[str, Any] = dict(
        id=a.id,
        slug=a.slug,
        title=a.title,
        handout=a.handout,
        order=a.position,
        points=a.points,
        language=a.language,
        limits=a.limits,
        examples=examples,
        starter_code=a.starter_code or "",
    )
    if staff:
        return AssignmentStaffOut(
            **fields,
            test_code=a.test_code,
            io_cases=a.io_cases or [],
            reference_solution=a.reference_solution,
            test_version=a.test_version,
            updated_at=a.updated_at,
            may_edit=may_edit,
            copied_from=a.copied_from,
        )
    return AssignmentOut(**fields)


class SubmissionCode(BaseModel):
    id: str
    code: str


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


class ProgressOut(BaseModel):
    points: float = Field(
        description="The sum of your grades: per assignment, its points x the share of tests passed x the "
        "submission's credit, from your best (or latest, as your cohort counts) graded submission"
    )
    points_possible: float = Field(0.0, description="The sum of the assignments' points")
    solved: list[int]
    total_assignments: int
    next_assignment: AssignmentOut | None = Field(
        description="The first unsolved assignment in course order"
    )


class MeOut(BaseModel):
    id: int
    name: str
    role: Role
    cohorts: list[str]
    cohort: str | None = Field(
        None,
        description="The cohort you work in now (PUT /me/cohort chooses among several): what you see and "
        "where your submissions count",
    )


class HealthOut(BaseModel):
    status: str
    database: str
    redis: str
    temporal: str


class RegradeCreate(Body):
    cohort: str = Field(max_length=100, description="The cohort's slug")
    assignment_id: int | None = Field(
        None, ge=1, le=INT32_MAX, description="Only this assignment; all assignments when omitted"
    )
    page_size: int = Field(500, ge=1, le=5000, description="Submissions fetched per page (tuning)")
    chunk_size: int = Field(
        25, ge=1, le=500, description="Submissions graded per activity (tuning)"
    )
    pages_per_run: int = Field(
        10, ge=1, le=1000, description="Pages per workflow run before continuing as new"
    )
    strategy: Literal["chunks", "children"] = Field(
        "chunks",
        description="chunks: one activity per chunk (default, measured cheaper); children: one child "
        "workflow per submission",
    )


class RegradeOut(BaseModel):
    id: str
    cohort: str
    assignment_id: int | None
    status: BatchStatus
    total: int
    done: int
    changed: int
    errors: int
    rate_per_second: float
    eta_seconds: float | None
    workflow_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    actions: list[Literal["pause", "resume", "cancel"]] = Field(
        default_factory=list,
        description="What the batch allows now: POST /regrades/{id}/<action>. Empty once it has ended.",
    )
    links: dict[str, str] = Field(default_factory=dict)


class RegradeChange(BaseModel):
    student: str
    assignment_id: int
    assignment: str
    old_score: float | None
    new_score: float
    submission_id: str


class OpsWorkflow(BaseModel):
    workflow_id: str
    run_id: str | None
    type: str
    status: str
    start_time: datetime | None
    close_time: datetime | None
    search_attributes: dict[str, str]
    temporal_ui: str | None = Field(None, description="This workflow in the Temporal Web UI")


class OpsHistory(BaseModel):
    workflow: OpsWorkflow
    history_length: int
    events: list[dict[str, Any]] = Field(
        description="event_id, time, offset_ms, type, activity, attempt, duration_ms, failure"
    )
    pending_activities: list[dict[str, Any]]


class OpsProblems(BaseModel):
    failed_workflows: list[OpsWorkflow]
    stuck_workflows: list[OpsWorkflow]
    submissions: list[dict[str, Any]] = Field(
        description="Submissions in error, or queued/grading too long"
    )


class OpsMetrics(BaseModel):
    minutes: int
    intake_stream_length: int | None
    series: list[dict[str, Any]]


class TerminateRequest(Body):
    reason: str = Field("terminated by an operator", max_length=500)


class CohortOut(BaseModel):
    slug: str
    title: str
    students: int


class MemberIn(Body):
    who: str = Field(
        min_length=1,
        max_length=254,
        description="Their login name, email or SIS id (already on GradeFlow)",
    )
    role: Role | None = Field(
        None, description="Their role, as a check: refused when they have another one"
    )


class MemberOut(BaseModel):
    name: str
    role: Role
    email: str | None = None
    sis_id: str | None = None


class MembershipOut(BaseModel):
    cohort: str
    member: MemberOut
    changed: bool = Field(
        description="false when nothing had to change (already in it, on enrolling)"
    )


class CohortChoice(Body):
    cohort: str = Field(min_length=1, max_length=100, description="The slug of a cohort you are in")


class RosterImport(Body):
    csv: str = Field(
        max_length=900_000,
        description="The roster as CSV text: a header row naming its columns (name, and optionally email, "
        "sis_id, role: student or instructor), then one row per person.",
        examples=["name,email,sis_id\nada.l,ada@example.edu,S1001\n"],
    )


class RosterPerson(BaseModel):
    name: str
    email: str | None
    sis_id: str | None
    role: Role
    token: str = Field(
        description="Their API token: shown only in this answer (it is stored hashed)."
    )


class RosterOut(BaseModel):
    cohort: str
    created: list[RosterPerson]
    enrolled: list[str] = Field(
        description="Already on GradeFlow, now in the cohort (their tokens unchanged)."
    )
    already: list[str] = Field(description="Already in the cohort: nothing changed.")


class Dates(Body):
    """A body with dates: each with its time zone, between 2000 and 2200."""

    @field_validator("*", mode="after")
    @classmethod
    def _sane_date(cls, value: Any) -> Any:
        if isinstance(value, datetime) and not (
            datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime(2200, 1, 1, tzinfo=UTC)
        ):
            raise ValueError("must be a date between 2000 and 2200")
        return value


class OfferingIn(Dates):
    """An assignment's terms in a cohort: a field left out keeps its value (a new offering starts with none), an
    explicit null clears it (no date: no limit)."""

    release_at: AwareDatetime | None = Field(None, description="invisible to students before")
    due_at: AwareDatetime | None = Field(None, description="full credit up to")
    close_at: AwareDatetime | None = Field(
        None,
        description="refused from (default: when the last late window ends, else the due date)",
    )
    late_windows: list[LateWindow] | None = Field(
        None,
        max_length=10,
        description="after the due date, each with its credit cap (null or []: none)",
    )
    max_submissions: int | None = Field(None, ge=1, le=10_000)
    min_minutes_between: int | None = Field(None, ge=1, le=7 * 24 * 60)


class CreditChangeOut(BaseModel):
    student: str
    submission_id: str
    old_credit: float
    new_credit: float
    old_score: float | None
    new_score: float | None
    why: str


class RecomputeOut(BaseModel):
    """A recount of grades after terms changed: no code is run again."""

    id: str
    status: Literal["running", "completed", "failed"]
    reason: str
    assignment_id: int | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    checked: int = Field(description="graded submissions looked at")
    changed: int = Field(description="whose credit, and so score, changed")
    changes: list[CreditChangeOut] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)


class OfferingOut(BaseModel):
    cohort: str
    assignment_id: int
    title: str
    release_at: datetime | None
    due_at: datetime | None
    close_at: datetime | None
    late_windows: list[LateWindow]
    max_submissions: int | None
    min_minutes_between: int | None
    policy_version: int
    extensions: int
    recompute: RecomputeOut | None = Field(
        None, description="The recount of the grades these terms changed, if any were graded"
    )


class ExtensionIn(Dates):
    """A student's own dates; a new extension needs due_at and reason, a change only what changes."""

    due_at: AwareDatetime | SkipJsonSchema[None] = Field(
        None, description="the student's own due date, later than the cohort's"
    )
    close_at: AwareDatetime | None = Field(
        None,
        description="their own close (default: when the late windows end after their due date)",
    )
    reason: str | SkipJsonSchema[None] = Field(
        None, max_length=500, description="why it is granted"
    )

    @field_validator("due_at", "reason", mode="before")
    @classmethod
    def not_null(cls, v: Any) -> Any:
        return _not_null(v)


class ExtensionOut(BaseModel):
    cohort: str
    assignment_id: int
    student: str
    due_at: datetime
    close_at: datetime | None
    granted_by: str
    reason: str
    created_at: datetime
    recompute: RecomputeOut | None = None


class GradebookColumn(BaseModel):
    id: int
    title: str
    points: float


class GradebookStudent(BaseModel):
    name: str
    email: str | None
    sis_id: str | None
    grades: dict[str, float | None] = Field(
        description="assignment id -> grade (points x share of test points earned); null: nothing graded"
    )
    total: float


class GradebookOut(BaseModel):
    cohort: str
    rule: GradeRule = Field(description="best: a student's best graded score; latest: their latest")
    assignments: list[GradebookColumn]
    students: list[GradebookStudent]
    points_possible: float


class CohortMatrix(BaseModel):
    cohort: str
    assignments: list[dict[str, Any]]
    students: list[dict[str, Any]] = Field(
        description="id, name, cells: {assignment id: {state (solved, attempted or missing: past the "
        "student's due date with nothing submitted), best_score, attempts, late (their work came only after "
        "the due date)}}; an absent cell is not started (and not yet due)"
    )


class AssignmentCheck(GradingSpec):
    """Draft tests and a reference solution, graded in the sandbox before the assignment is saved."""

    reference_solution: str = Field(min_length=1, max_length=65_536)


class CheckResult(BaseModel):
    verdict: Verdict
    passed: bool
    message: str
    tests: list[TestResultOut]


# --- similarity reports ---------------------------------------------------------------------------------------


class SimilarityCreate(Body):
    cohort: str = Field(max_length=100, description="The cohort's slug")
    assignment_id: int = Field(ge=1, le=INT32_MAX, description="The assignment compared")


class SimilarityReview(Body):
    review: PairReview = Field(description="flagged, dismissed, or open again")
    note: str = Field("", max_length=2000)


class Fragment(BaseModel):
    a: list[int] = Field(description="first and last line in the first student's code")
    b: list[int] = Field(description="first and last line in the second student's code")
    fingerprints: int = Field(description="shared fingerprints in it (its size)")


class SimilarPairOut(BaseModel):
    rank: int
    a_student: str
    b_student: str
    a_submission: str
    b_submission: str
    similarity: float = Field(description="2 x shared / (fingerprints of A + of B), 0 to 1")
    share_a: float = Field(description="share of A's fingerprints that B also has")
    share_b: float
    longest_lines: int = Field(description="lines of the largest shared fragment (in A)")
    review: PairReview = PairReview.OPEN
    note: str = ""


class SimilarPairDetail(SimilarPairOut):
    a_code: str
    b_code: str
    fragments: list[Fragment]


class SimilarityReportOut(BaseModel):
    id: str
    cohort: str
    assignment_id: int
    status: ReportStatus
    created_at: datetime
    cutoff: datetime = Field(description="submissions received up to here are compared")
    finished_at: datetime | None = None
    total: int = Field(description="students' latest submissions compared")
    fingerprinted: int
    candidates: int = Field(description="pairs that share a fingerprint, scored")
    newer: int = Field(
        0,
        description="students whose latest submission came after the cutoff: start a new report to include them",
    )
    error: str | None = None
    pairs: list[SimilarPairOut] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)
