"""Replay: every history recorded from a real run (tests/workflows/histories/, written by record_histories.py)
must replay against today's workflow code. A change that makes a workflow nondeterministic (a new activity before
an old one, a timer where there was none) fails here, before it reaches a deploy with gradings in flight.

Needs no server: the SDK's Replayer runs the workflow code against the recorded events."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import run_async
from workflows.check_solution import CheckSolution
from workflows.grade_submission import GradeSubmission
from workflows.lti import PostGrades, SyncRosters
from workflows.recompute import RecomputeGrades
from workflows.regrade_cohort import RegradeCohort, RegradeSubmission
from workflows.similarity import SimilarityReportWorkflow

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))


def test_there_are_histories_of_every_workflow():
    kinds = {path.name.split("-run")[0].split("-")[0] for path in HISTORIES}
    assert {
        "grade_submission",
        "regrade_cohort",
        "check_solution",
        "recompute_grades",
        "similarity_report",
        "post_grades",
        "sync_rosters",
    } <= kinds


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_a_recorded_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[
            GradeSubmission,
            CheckSolution,
            RegradeCohort,
            RegradeSubmission,
            RecomputeGrades,
            SimilarityReportWorkflow,
            PostGrades,
            SyncRosters,
        ]
    )
    result = run_async(lambda: replayer.replay_workflow(history, raise_on_replay_failure=False))
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
