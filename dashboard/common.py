"""Shared pieces of the dashboard: the signed-in API client, verdicts in words, small formatting helpers."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard.client import Api, ApiProblem

VERDICTS = {
    "passed": "Correct: every test passed.",
    "wrong_answer": "Not yet: some tests failed.",
    "runtime_error": "Your code raised an error.",
    "syntax_error": "Your code has a syntax error.",
    "time_limit": "Your code ran out of time.",
    "memory_limit": "Your code ran out of memory.",
    "output_limit": "Your code printed too much.",
    "internal_error": "The grader failed; this is not your fault. Try again shortly.",
}
FINAL = ("graded", "error")


def api() -> Api:
    return st.session_state["api"]


def me() -> dict:
    return st.session_state["me"]


def verdict_words(verdict: str | None) -> str:
    return VERDICTS.get(verdict or "internal_error", verdict or "")


def call(fn, *args, **kwargs):
    """Run an API call; show its problem as a message (never a traceback) and return None."""
    try:
        return fn(*args, **kwargs)
    except ApiProblem as exc:
        st.error(str(exc))
        return None


def follow(path: str, finished: Callable[[dict], bool], show: Callable[[dict], None],
           events: str | None = None) -> dict | None:
    """Show the API object at `path` until it is finished, then run the whole page once more (so everything else
    catches up). With `events` (a server-sent events path, e.g. a submission's), each change arrives as the API
    pushes it; without, or if the stream breaks off, a fragment re-reads the object every half second.
    Returns the object once it is finished."""
    item = call(api().get, path)
    if item is None:
        return None
    if finished(item):
        show(item)
        return item
    if events:
        shown = st.empty()
        with shown.container():
            show(item)
        try:
            for item in api().events(events):
                with shown.container():
                    show(item)
                if finished(item):
                    st.rerun(scope="app")
        except ApiProblem:
            pass  # the stream broke off (API restarted, network): carry on by reading
        shown.empty()
    _poll(path, finished, show)
    return None


@st.fragment(run_every=0.5)
def _poll(path: str, finished: Callable[[dict], bool], show: Callable[[dict], None]) -> None:
    item = call(api().get, path)
    if item is None:
        return
    if finished(item):
        st.rerun(scope="app")
    show(item)
