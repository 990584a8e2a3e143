"""How the judge decides a verdict from its test records, without a sandbox. The judge runs in the sandbox and
imports nothing of GradeFlow, so its verdict words are checked here against gradeflow.vocabulary."""

from __future__ import annotations

from gradeflow.vocabulary import Verdict
from sandbox.judge import KIND_PRIORITY, VERDICT_OF_KIND, decide


def record(kind: str, passed: bool = False, message: str = "") -> dict:
    return {"kind": kind, "passed": passed, "message": message or kind}


def test_the_judges_verdicts_are_the_platforms():
    assert set(VERDICT_OF_KIND.values()) <= set(Verdict)
    assert set(KIND_PRIORITY) <= set(VERDICT_OF_KIND)


def test_all_passed_is_passed():
    assert decide([record("ok", True), record("ok", True)], None) == (Verdict.PASSED, "")


def test_the_most_fundamental_failure_names_the_verdict():
    records = [
        record("ok", True),
        record("wrong"),
        record("runtime"),
        record("time", message="slow"),
    ]
    assert decide(records, None) == (Verdict.TIME_LIMIT, "slow")
    assert decide([record("wrong"), record("output")], None)[0] == Verdict.OUTPUT_LIMIT
    assert decide([record("wrong", message="expected 3")], None) == (
        Verdict.WRONG_ANSWER,
        "expected 3",
    )


def test_a_failure_to_load_decides_before_any_record():
    broken = {"kind": "tests", "message": "The assignment's tests fail to load: NameError"}
    assert decide([record("ok", True)], broken) == (Verdict.TEST_ERROR, broken["message"])
    assert decide([], {"kind": "syntax", "message": "invalid syntax (line 2)"}) == (
        Verdict.SYNTAX_ERROR,
        "invalid syntax (line 2)",
    )


def test_no_tests_is_the_graders_fault_not_a_pass():
    assert decide([], None) == (Verdict.INTERNAL_ERROR, "The assignment has no tests.")


def test_an_unknown_kind_counts_as_a_runtime_error():
    assert decide([record("mystery")], None)[0] == Verdict.RUNTIME_ERROR
