"""The request and response models of the assignments routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from api.params import INT32_MAX
from api.schemas import STARTER_HELP, AssignmentStaffOut, Body, TestResultOut, _not_null
from gradeflow.limits import DEFAULT_LIMITS, LIMIT_BOUNDS
from gradeflow.vocabulary import Verdict


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


class AssignmentCheck(GradingSpec):
    """Draft tests and a reference solution, graded in the sandbox before the assignment is saved."""

    reference_solution: str = Field(min_length=1, max_length=65_536)


class CheckResult(BaseModel):
    verdict: Verdict
    passed: bool
    message: str
    tests: list[TestResultOut]
