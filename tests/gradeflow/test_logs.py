"""JSON log lines: the ids an operator searches by, taken from `extra=` and from Temporal's loggers."""

from __future__ import annotations

import json
import logging

import pytest

from gradeflow.logs import JsonFormatter, configure


def record(msg: str, *args, exc_info=None, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("gradeflow.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    rec.__dict__.update(extra)
    return rec


def test_json_lines_carry_submission_workflow_and_activity_ids():
    line = json.loads(
        JsonFormatter().format(
            record(
                "submission %s graded",
                "s-1",
                submission_id="s-1",
                verdict="passed",
                temporal_activity={
                    "workflow_id": "grade-s-1",
                    "workflow_run_id": "r-1",
                    "activity_type": "record_grading",
                    "attempt": 2,
                    "namespace": "default",
                },
            )
        )
    )
    assert line["message"] == "submission s-1 graded" and line["level"] == "WARNING"
    assert (line["submission_id"], line["workflow_id"], line["run_id"]) == (
        "s-1",
        "grade-s-1",
        "r-1",
    )
    assert (line["activity"], line["attempt"], line["verdict"]) == ("record_grading", 2, "passed")
    assert "namespace" not in line and line["time"].endswith("+00:00")


def test_json_lines_keep_the_exception():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        line = json.loads(JsonFormatter().format(record("failed", exc_info=sys.exc_info())))
    assert "ValueError: boom" in line["exception"]


def test_an_unknown_log_format_is_refused_with_the_choices():
    with pytest.raises(
        SystemExit, match="GRADEFLOW_LOG_FORMAT must be 'text' or 'json', not 'xml'"
    ):
        configure("xml")
