"""What `gradeflow up` tells the operator, from the process states supervisord reports (pure logic: the states
are given, no supervisord runs)."""

from __future__ import annotations

import pytest

from gradeflow.launch.supervise import Program, Supervisor


def info(state: str, pid: int = 0, spawnerr: str = "") -> dict:
    return {"statename": state, "pid": pid, "spawnerr": spawnerr}


@pytest.fixture
def supervisor(tmp_path, monkeypatch):
    sup = Supervisor(tmp_path, [Program("worker", ["true"], priority=30)], {})
    monkeypatch.setattr(sup, "exit_reason", lambda name: "terminated by SIGKILL")
    return sup


def told(sup: Supervisor, *steps: dict) -> list[str]:
    """Feed supervisord's answers one poll at a time; everything `up` printed after the first."""
    lines: list[str] = []
    for i, step in enumerate(steps):
        sup.states = lambda step=step: {"worker": step}  # the states supervisord would answer
        sup.watch(lines.append if i else (lambda line: None))
    return lines


def test_a_kill_while_running_is_told_with_the_restart(supervisor):
    assert told(supervisor, info("RUNNING", 10), info("BACKOFF"), info("RUNNING", 11)) == [
        "the worker exited unexpectedly (terminated by SIGKILL); restarting it",
        "the worker is running again (pid 11)",
    ]


def test_a_kill_while_still_starting_is_told_too(supervisor):
    assert told(supervisor, info("STARTING", 10), info("STARTING", 11), info("RUNNING", 11)) == [
        "the worker exited unexpectedly (terminated by SIGKILL); restarting it",
        "the worker is running again (pid 11)",
    ]


def test_a_restart_between_two_polls_is_not_missed(supervisor):
    assert told(supervisor, info("RUNNING", 10), info("RUNNING", 12)) == [
        "the worker exited unexpectedly (terminated by SIGKILL); restarting it",
        "the worker is running again (pid 12)",
    ]


def test_starting_up_and_stopping_on_purpose_are_not_exits(supervisor):
    assert told(supervisor, info("STARTING", 10), info("RUNNING", 10), info("STOPPING", 10)) == []
    assert told(supervisor, info("STOPPED")) == []


def test_a_process_given_up_on_is_named_with_its_log(supervisor, tmp_path):
    lines = told(
        supervisor,
        info("RUNNING", 10),
        info("BACKOFF"),
        info("FATAL", spawnerr="Exited too quickly"),
    )
    assert lines == [
        "the worker exited unexpectedly (terminated by SIGKILL); restarting it",
        f"the worker could not be restarted (Exited too quickly); see {tmp_path / 'logs' / 'worker.log'}",
    ]
