"""The request and response models of the assignments routes."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from api.params import INT32_MAX
from api.schemas import STARTER_HELP, AssignmentStaffOut, Body, TestResultOut, _not_null
from gradeflow import languages
from gradeflow.languages import COMPILE_BOUNDS, COMPILE_DEFAULTS
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
    # The compile step's own limits (compiled languages; defaults in gradeflow.languages.COMPILE_DEFAULTS)
    compile_cpu_seconds: float | None = Field(
        None,
        ge=COMPILE_BOUNDS["compile_cpu_seconds"][0],
        le=COMPILE_BOUNDS["compile_cpu_seconds"][1],
        description=f"CPU time of the compile step (default {COMPILE_DEFAULTS['compile_cpu_seconds']:g})",
    )
    compile_wall_seconds: float | None = Field(
        None,
        ge=COMPILE_BOUNDS["compile_wall_seconds"][0],
        le=COMPILE_BOUNDS["compile_wall_seconds"][1],
        description="Wall-clock time of the compile step "
        f"(default {COMPILE_DEFAULTS['compile_wall_seconds']:g})",
    )
    compile_memory_mb: int | None = Field(
        None,
        ge=COMPILE_BOUNDS["compile_memory_mb"][0],
        le=COMPILE_BOUNDS["compile_memory_mb"][1],
        description=f"Memory of the compile step, MiB (default {COMPILE_DEFAULTS['compile_memory_mb']:g})",
    )
    compile_output_kb: int | None = Field(
        None,
        ge=COMPILE_BOUNDS["compile_output_kb"][0],
        le=COMPILE_BOUNDS["compile_output_kb"][1],
        description="The compiler's diagnostics kept, KiB "
        f"(default {COMPILE_DEFAULTS['compile_output_kb']:g})",
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


class FunctionTest(Body):
    """A function test of a compiled language: the driver (test_code) gets `stdin`, calls the student's functions
    and prints what they return; the test passes when that equals `stdout` (compared outside the sandbox)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$", description="shown to the student")
    stdin: str = Field("", max_length=1_000_000)
    stdout: str = Field(max_length=1_000_000)
    points: int = Field(1, ge=0, le=1000)
    hidden: bool = Field(False, description="students see only whether a hidden test passed")


class LanguageOptions(Body):
    main_class: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$",
        description="Java: the public class the student's file declares (default Main)",
    )


LanguageName = Literal["python", "c", "cpp", "java", "javascript"]
assert set(get_args(LanguageName)) == set(languages.NAMES)  # one list: gradeflow.languages


TEST_CODE_HELP = (
    "unittest source; tests import the student's code as `solution` (`import solution`, "
    "`from solution import f`, `from solution import *`), whose calls run in the sandbox and return "
    "plain data. Tests in a class named Hidden… or a method named test_hidden… are hidden. Other languages: the "
    "driver, a program in the assignment's language that reads a function test's stdin, calls the student's "
    "functions and prints what they return (C and C++: its main() wins over the student's; Java: its own public "
    "class calling Main's static methods; JavaScript: require('./solution.js'))."
)


def check_grading_spec(language: str, test_code: str, io_cases: list, function_tests: list) -> None:
    """What an assignment of `language` must have to be graded; ValueError says what to fix."""
    if language == languages.DEFAULT:
        if function_tests:
            raise ValueError(
                "function_tests are for compiled languages' drivers; a Python assignment's function tests are "
                "unittest tests in test_code"
            )
        if test_code:
            _check_python(test_code, "test_code")
        if not test_code.strip() and not io_cases:
            raise ValueError("an assignment needs test_code, io_cases or both")
        return
    if function_tests and not test_code.strip():
        raise ValueError(
            "function_tests need a driver in test_code that calls the student's functions"
        )
    if test_code.strip() and not function_tests:
        raise ValueError(
            "a driver in test_code needs function_tests (its stdin and expected output)"
        )
    if not io_cases and not function_tests:
        raise ValueError(
            "an assignment needs io_cases, or a driver in test_code with function_tests"
        )


class GradingSpec(Body):
    """What a submission is graded against, in its language: unittest tests (Python) or a driver with function
    tests (other languages), I/O cases, and limits."""

    language: LanguageName = Field(
        "python", description="The language students write in (fixed once the assignment exists)"
    )
    test_code: str = Field("", max_length=200_000, description=TEST_CODE_HELP)
    io_cases: list[IOCase] = Field(default_factory=list, max_length=50)
    function_tests: list[FunctionTest] = Field(default_factory=list, max_length=100)
    language_options: LanguageOptions = Field(default_factory=lambda: LanguageOptions())
    limits: Limits = Field(default_factory=lambda: Limits())

    @model_validator(mode="after")
    def has_tests(self):
        check_grading_spec(self.language, self.test_code, self.io_cases, self.function_tests)
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
    function_tests: list[FunctionTest] | SkipJsonSchema[None] = Field(None, max_length=100)
    language_options: LanguageOptions | SkipJsonSchema[None] = None
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
        "function_tests",
        "language_options",
        "limits",
        "starter_code",
        mode="before",
    )
    @classmethod
    def not_null(cls, v: Any) -> Any:
        return _not_null(v)


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
