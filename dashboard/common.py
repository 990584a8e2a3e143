"""Shared pieces of the dashboard: the signed-in API client, the one place that turns verdicts and statuses into
the words people read, small formatting helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable

import streamlit as st

from dashboard.client import Api, ApiProblem
from gradeflow.vocabulary import BatchStatus, ReportStatus, SubmissionStatus, Verdict

# A verdict as a student reads it under their result
VERDICTS: dict[str, str] = {
    Verdict.PASSED: "Correct: every test passed.",
    Verdict.WRONG_ANSWER: "Not yet: some tests failed.",
    Verdict.RUNTIME_ERROR: "Your code raised an error.",
    Verdict.SYNTAX_ERROR: "Your code has a syntax error.",
    Verdict.TIME_LIMIT: "Your code ran out of time.",
    Verdict.MEMORY_LIMIT: "Your code ran out of memory.",
    Verdict.OUTPUT_LIMIT: "Your code printed too much.",
    Verdict.INTERNAL_ERROR: "The grader failed; this is not your fault. Try again shortly.",
    Verdict.TEST_ERROR: "The tests of this assignment are broken; your instructor has been told. Submit again "
    "once they are fixed.",
}


# A verdict in a table's cell (students' histories, staff's lists)
VERDICT_CELLS: dict[str, str] = {
    Verdict.PASSED: "✓ passed",
    Verdict.WRONG_ANSWER: "some tests failed",
    Verdict.RUNTIME_ERROR: "raised an error",
    Verdict.SYNTAX_ERROR: "syntax error",
    Verdict.TIME_LIMIT: "ran out of time",
    Verdict.MEMORY_LIMIT: "ran out of memory",
    Verdict.OUTPUT_LIMIT: "printed too much",
    Verdict.INTERNAL_ERROR: "grader failed",
    Verdict.TEST_ERROR: "tests broken",
}
# A submission's status
STATUSES: dict[str, str] = {
    SubmissionStatus.QUEUED: "waiting to be graded",
    SubmissionStatus.GRADING: "being graded",
    SubmissionStatus.GRADED: "graded",
    SubmissionStatus.ERROR: "could not be graded",
}
# A regrade's, a similarity report's or a recount's status
JOB_STATUSES: dict[str, str] = {
    BatchStatus.QUEUED: "waiting to start",
    BatchStatus.RUNNING: "running",
    BatchStatus.PAUSED: "paused",
    BatchStatus.CANCELLING: "stopping",
    BatchStatus.CANCELLED: "cancelled",
    BatchStatus.COMPLETED: "done",
    BatchStatus.FAILED: "failed",
    ReportStatus.COMPLETED: "done",
}


def status_words(status: str | None) -> str:
    return STATUSES.get(status or "", status or "")


def job_words(status: str | None) -> str:
    return JOB_STATUSES.get(status or "", status or "")


def outcome(sub: dict) -> str:
    """What became of a submission, in a table's cell: its verdict once graded, else where it stands."""
    if sub.get("status") == SubmissionStatus.GRADED and sub.get("verdict"):
        return VERDICT_CELLS.get(sub["verdict"], sub["verdict"])
    return status_words(sub.get("status"))


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 line', '3 lines', '1 pair', '0 pairs' ('many' for irregular words)."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def api() -> Api:
    return st.session_state["api"]


def me() -> dict:
    return st.session_state["me"]


def verdict_words(verdict: str | None) -> str:
    return VERDICTS.get(verdict or Verdict.INTERNAL_ERROR, verdict or "")


def call(fn, *args, **kwargs):
    """Run an API call; show its problem as a message (never a traceback) and return None."""
    try:
        return fn(*args, **kwargs)
    except ApiProblem as exc:
        st.error(str(exc))
        return None


class Follower:
    """Reads a server-sent events stream in a thread of its own and keeps the newest object it carried, so the page
    shows each change as the API pushes it while staying responsive to clicks (a script blocked on a stream would
    not be)."""

    def __init__(self, client: Api, path: str) -> None:
        self.latest: dict | None = None
        self.broken = False
        threading.Thread(
            target=self._read, args=(client, path), daemon=True, name=f"follow {path}"
        ).start()

    def _read(self, client: Api, path: str) -> None:
        try:
            for item in client.events(path):
                self.latest = item
        except ApiProblem:
            self.broken = True  # the page goes back to reading the object itself


def follow(
    path: str,
    finished: Callable[[dict], bool],
    show: Callable[[dict], None],
    events: str | None = None,
) -> dict | None:
    """Show the API object at `path` until it is finished, then run the whole page once more (so everything else
    catches up). With `events` (a server-sent events path, e.g. a submission's) the changes arrive as the API
    pushes them and the page only looks at what arrived; without, or if the stream breaks off, the page re-reads
    the object every half second. Returns the object once it is finished."""
    item = call(api().get, path)
    if item is None:
        return None
    if finished(item):
        show(item)
        return item
    if events:
        key = f"follower:{events}"
        if key not in st.session_state:
            st.session_state[key] = Follower(api(), events)
        _watch(st.session_state[key], path, finished, show)
    else:
        _poll(path, finished, show)
    return None


@st.fragment(run_every=0.25)
def _watch(
    follower: Follower, path: str, finished: Callable[[dict], bool], show: Callable[[dict], None]
) -> None:
    """Shows what the events stream brought (no request to the API), or reads the object if the stream broke."""
    _show_until_finished(
        call(api().get, path) if follower.broken else follower.latest, finished, show
    )


@st.fragment(run_every=0.5)
def _poll(path: str, finished: Callable[[dict], bool], show: Callable[[dict], None]) -> None:
    _show_until_finished(call(api().get, path), finished, show)


def _show_until_finished(
    item: dict | None, finished: Callable[[dict], bool], show: Callable[[dict], None]
) -> None:
    """Show the object, or run the whole page again once it is finished."""
    if item is None:
        return
    if finished(item):
        st.rerun(scope="app")
    show(item)
