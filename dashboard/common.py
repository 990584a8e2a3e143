"""Shared pieces of the dashboard: the signed-in API client, the one place that turns verdicts and statuses into
the words people read, small formatting helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

import streamlit as st

from dashboard import session
from dashboard.client import Api, ApiProblem
from gradeflow.vocabulary import BatchStatus, ReportStatus, SubmissionStatus, Verdict

# A verdict as a student reads it under their result
VERDICTS: dict[str, str] = {
    Verdict.PASSED: "Correct: every test passed.",
    Verdict.WRONG_ANSWER: "Not yet: some tests failed.",
    Verdict.RUNTIME_ERROR: "Your code raised an error.",
    Verdict.SYNTAX_ERROR: "Your code has a syntax error.",
    Verdict.COMPILE_ERROR: "Your code does not compile: the compiler's message is below. This does not count "
    "as one of your submissions.",
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
    Verdict.COMPILE_ERROR: "does not compile",
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


# The browser follows a submission's events stream (relayed on the dashboard's own origin by dashboard/server.py,
# signed in by its cookie) and tells the page only when the status changes: a page waiting for a verdict costs
# the dashboard nothing until then. (A fragment re-read on a timer instead cost a rerun every 0.25 s per page.)
STATUS_WATCHER_JS = """
export default function (component) {
  const { data, setStateValue } = component;
  if (data.shown) {
    // The final status is on the screen: now the rest of the page may catch up (see _pushed)
    setStateValue("shown", true);
    return;
  }
  const source = new EventSource(data.url);
  let failures = 0;
  source.addEventListener("status", (event) => {
    failures = 0;
    if (JSON.parse(event.data).status !== data.status) {
      source.close();
      setStateValue("latest", event.data);
    }
  });
  source.onerror = () => {
    failures += 1;
    if (failures >= 3) {
      source.close();
      setStateValue("broken", true);
    }
  };
  return () => source.close();
}
"""
status_watcher = st.components.v2.component("gradeflow_status_watcher", js=STATUS_WATCHER_JS)


def follow(
    path: str,
    finished: Callable[[dict], bool],
    show: Callable[[dict], None],
    events: str | None = None,
) -> dict | None:
    """Show the API object at `path` until it is finished, then run the whole page once more (so everything else
    catches up). With `events` (a submission's events stream) the browser listens and the page runs again only
    when the status changes; without, or if the stream cannot be had, the page re-reads the object every
    half second. Returns the object once it is finished."""
    pushed = st.session_state.pop(f"item:{path}", None)
    # The run the watcher's final status started shows what was pushed (the whole object) without asking again
    item = pushed if pushed is not None and finished(pushed) else call(api().get, path)
    if item is None:
        return None
    if finished(item):
        show(item)
        return item
    if events and not st.session_state.get(f"broken:{path}"):
        st.session_state[f"item:{path}"] = item
        _pushed(path, finished, show)
    else:
        _poll(path, finished, show)
    return None


def _pushed_change(path: str, key: str) -> None:
    """The watcher heard a new status, lost the stream, or saw the final status on the screen: kept for the
    fragment's run it starts."""
    state = st.session_state.get(key)
    latest = getattr(state, "latest", None) if state is not None else None
    if latest:
        st.session_state[f"item:{path}"] = json.loads(latest)
    for flag in ("broken", "shown"):
        if getattr(state, flag, None):
            st.session_state[f"{flag}:{path}"] = True


@st.fragment
def _pushed(path: str, finished: Callable[[dict], bool], show: Callable[[dict], None]) -> None:
    """Shows the submission as last pushed; runs again only when the watcher reports a change (the watcher
    listens on the dashboard's relay of the submission's events stream).

    The final status is shown here at once, from what was pushed; only then, when the browser says it has it on
    the screen, does the whole page run again (points, history: several API calls, which take seconds in a
    deadline rush). Rerunning the page straight away would keep the verdict from the student until then, and a
    rerun drops what this run drew but had not yet sent."""
    item = st.session_state[f"item:{path}"]
    if st.session_state.get(f"broken:{path}") or st.session_state.pop(f"shown:{path}", False):
        # The stream is gone (the page reads the object itself), or the page catches up: the verdict moves
        # points, progress and submissions left
        st.rerun(scope="app")
    show(item)
    # A watcher per status: a new one listens for the change after this one
    key = f"watch:{path}:{item['status']}"
    status_watcher(
        data={
            "url": session.url_path(session.base_url(), f"{session.EVENTS_PATH}/{item['id']}"),
            "status": item["status"],
            "shown": finished(item),
        },
        key=key,
        on_latest_change=partial(_pushed_change, path, key),
        on_broken_change=partial(_pushed_change, path, key),
        on_shown_change=partial(_pushed_change, path, key),
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
