"""The student's page: assignments in course order, the handout, a code editor, live grading feedback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard.client import ApiProblem
from dashboard.common import (
    api,
    call,
    follow,
    outcome,
    plural,
    status_words,
    verdict_words,
)
from gradeflow.vocabulary import FINAL_STATUSES, Verdict

try:  # a real code editor with Python highlighting when the component is installed
    from streamlit_ace import st_ace
except ImportError:  # pragma: no cover
    st_ace = None

STARTER = "# Write your solution here\n"


def starting_code(assignment: dict, history: list[dict]) -> str:
    """The student's latest submission for this assignment (so they go on where they stopped), else the
    instructor's starter code, else a comment."""
    key = f"start-{assignment['id']}"
    if key not in st.session_state:
        latest = call(api().get, f"/submissions/{history[0]['id']}/code") if history else None
        st.session_state[key] = (
            latest["code"]
            if latest
            else (
                assignment.get("starter_code")
                or (STARTER if assignment.get("language", "python") == "python" else "")
            )
        )
    return st.session_state[key]


def editor(assignment: dict, start: str) -> str:
    """The code editor, highlighting the assignment's language."""
    key = f"code-{assignment['id']}"
    mode = assignment.get("editor_mode") or "python"
    if st_ace is not None:
        return (
            st_ace(
                value=start,
                language=mode,
                theme="github",
                key=key,
                height=280,
                auto_update=True,
                font_size=14,
                tab_size=4,
                show_gutter=True,
                wrap=False,
                placeholder="def ..." if mode == "python" else "",
            )
            or ""
        )
    title = assignment.get("language_title") or "Python"
    return st.text_area(f"Your solution ({title})", value=start, height=280, key=key)


def show_progress_or_result(sub: dict) -> None:
    if sub["status"] in FINAL_STATUSES:
        show_result(sub)
    else:
        st.info(f"Grading… {status_words(sub['status'])}", icon=":material/hourglass_top:")


def show_result(sub: dict) -> None:
    words = verdict_words(sub.get("verdict"))
    if (
        sub.get("verdict") == Verdict.TEST_ERROR
    ):  # not graded: nothing about the student's code to show
        st.warning(words, icon=":material/construction:")
        return
    score = f"Score {sub['score'] or 0:g} / {sub['max_score']:g}"
    (st.success if sub.get("passed") else st.error)(f"{words} {score}")
    if sub.get("late"):
        st.info(f"Submitted after the due date ({sub.get('window')}).", icon=":material/schedule:")
    if sub.get("error"):
        st.warning(sub["error"])
    if sub.get("message") and not sub["tests"]:
        st.code(sub["message"], language=None)
    for test in sub["tests"]:
        badge = ":green-badge[passed]" if test["passed"] else ":red-badge[failed]"
        hidden = " :gray-badge[hidden]" if test.get("hidden") else ""
        st.markdown(f"{badge}{hidden} `{test['name']}`")
        if test["message"] and not test["passed"]:
            st.code(test["message"], language=None)
    if sub.get("stdout") or sub.get("stderr"):
        with st.expander("What your program printed"):
            st.code((sub.get("stdout") or "") + (sub.get("stderr") or ""), language=None)


# The assignment a student looks at lives in the URL (?assignment=SLUG): a reload, Back and Forward, a bookmark
# or a link opened in another tab show what the URL says, and a click in the sidebar's radio moves the URL.
QUERY = "assignment"
PICKED = "assignment-picked"
SEEN = "assignment-seen"  # (radio's pick, URL's slug) as the last run left them


def open_assignment(assignment: dict) -> None:
    """Go to an assignment: a new URL (a step Back returns from)."""
    st.query_params[QUERY] = assignment["slug"]


def chosen_assignment(assignments: list[dict], progress: dict) -> dict:
    """The assignment to show, with the radio and the URL made to agree. Whichever moved since the last run
    wins: the radio (a click) or else the URL (Back, Forward, a link, the Next button). Not a callback on the
    radio: a click that interrupts the run of the click before it arrives with the URL the page had then, and
    Streamlit does not call the callback again, so the older URL would win."""
    by_slug = {a["slug"]: a for a in assignments}
    by_id = {a["id"]: a for a in assignments}
    # Streamlit may hand back a radio's label instead of its id (it keeps the value as its label, and labels
    # change as assignments are solved): the label's text after the mark names the assignment.
    picked = by_id.get(st.session_state.get(PICKED)) or next(
        (
            a
            for a in assignments
            if str(st.session_state.get(PICKED, "")).endswith(" " + label_of(a))
        ),
        None,
    )
    from_url = by_slug.get(st.query_params.get(QUERY, ""))
    seen_pick, seen_url = st.session_state.get(SEEN, (None, None))
    if picked is not None and picked["id"] != seen_pick:
        current = picked  # a click
    elif from_url is not None:
        current = from_url
    else:  # no URL yet (or one this cohort does not offer): where they left off, else the first unsolved
        current = picked or by_id.get(
            (progress["next_assignment"] or assignments[-1])["id"], assignments[-1]
        )
    if from_url is None or from_url["id"] != current["id"]:
        open_assignment(current)
    if st.session_state.get(PICKED) != current["id"]:
        st.session_state[PICKED] = current["id"]  # before the radio is drawn: it shows the choice
    st.session_state[SEEN] = (current["id"], current["slug"])
    return current


def label_of(assignment: dict) -> str:
    return f"{assignment['order']}. {assignment['title']}"


def learn_page() -> None:
    progress = call(api().get, "/me/progress")
    assignments = call(api().get, "/assignments")
    if progress is None or assignments is None:
        return
    solved = set(progress["solved"])
    total = max(len(assignments), 1)
    with st.sidebar:
        st.metric("Points", f"{progress['points']:g}")
        st.progress(
            min(len(solved) / total, 1.0), text=f"{len(solved)} of {len(assignments)} solved"
        )
    if not assignments:
        st.info("No assignments yet.")
        return
    by_id = {a["id"]: a for a in assignments}
    current = chosen_assignment(assignments, progress)
    labels = {a["id"]: f"{'✓' if a['id'] in solved else '○'}  {label_of(a)}" for a in assignments}
    with st.sidebar:
        st.radio("Assignments", list(by_id), format_func=labels.get, key=PICKED)
    assignment = current
    if not progress["next_assignment"]:
        st.success("You have solved every assignment. Well done!")
    st.caption(
        f"Assignment {assignment['order']} of {len(assignments)} · {assignment['points']} points"
        + (" · solved" if assignment["id"] in solved else "")
    )
    show_terms(assignment["id"])
    if not assignment["handout"].lstrip().startswith("#"):  # a handout without its own title
        st.header(assignment["title"], anchor=False)
    st.markdown(assignment["handout"])
    for example in assignment.get("examples") or []:
        st.code(f"input:\n{example['stdin']}\nexpected output:\n{example['stdout']}", language=None)
    history = (
        call(api().get, "/me/submissions", params={"assignment_id": assignment["id"], "limit": 20})
        or []
    )
    code = editor(assignment, starting_code(assignment, history))
    st.caption(
        f"{plural(len(code.splitlines()), 'line')} · {plural(len(code), 'character')} · limit 64 KiB"
    )
    mine = f"submission-{assignment['id']}"  # the one this page follows, per assignment
    st.button(
        f"Submit to “{assignment['title']}”",
        type="primary",
        key=f"submit-{assignment['id']}",
        on_click=submit,
        args=(assignment["id"], mine),
    )
    said = st.session_state.pop(f"{mine}-said", None)
    if said:
        (st.warning if said[0] == "warning" else st.error)(said[1])
    # Back at an assignment (another day, a reload): its last feedback, as it was left
    shown = st.session_state.get(mine) or (history[0]["id"] if history else None)
    if shown:
        if shown != st.session_state.get(mine):
            st.caption(
                f"Your last submission, {history[0]['created_at'][:16].replace('T', ' ')} UTC:"
            )
        sub_path = f"/submissions/{shown}"
        follow(
            sub_path,
            lambda sub: sub["status"] in FINAL_STATUSES,
            show_progress_or_result,
            events=f"{sub_path}/events",
        )
        if assignment["id"] in solved and progress["next_assignment"]:
            upcoming = by_id.get(progress["next_assignment"]["id"])
            if upcoming:
                st.button(
                    f"Next assignment: {upcoming['title']} →",
                    key=f"next-{assignment['id']}",
                    on_click=open_assignment,
                    args=(upcoming,),
                )
    if history:
        with st.expander(f"Your submissions for this assignment ({len(history)})"):
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "submitted (UTC)": h["created_at"][:16].replace("T", " "),
                            "result": outcome(h),
                            "score": h["score"],
                            "late": h["window"] if h.get("late") else "",
                        }
                        for h in history
                    ]
                ),
                hide_index=True,
                width="stretch",
            )


def submit(assignment_id: int, mine: str) -> None:
    """The Submit button's callback: it runs before the page does, so the code is on its way at once (the page's
    own reads before the button take seconds in a deadline rush). What the API said is shown by the button."""
    code = st.session_state.get(f"code-{assignment_id}") or ""
    try:
        status, body = api().request(
            "POST", f"/assignments/{assignment_id}/submissions", expect=(409,), json={"code": code}
        )
    except ApiProblem as exc:
        st.session_state[f"{mine}-said"] = ("problem", str(exc))
        return
    if status == 409:  # one is still being graded: follow that one
        st.session_state[f"{mine}-said"] = ("warning", body["detail"])
        st.session_state[mine] = body["pending_submission_id"]
    else:
        st.session_state[mine] = body["id"]


def show_terms(assignment_id: int) -> None:
    """The student's dates and limits for this assignment, and what a submission now would earn."""
    one = call(api().get, f"/assignments/{assignment_id}")
    terms = (one or {}).get("terms")
    if not terms:
        return
    parts = []
    if terms["due_at"]:
        due = datetime.fromisoformat(terms["due_at"])
        left = due - datetime.now(UTC)
        parts.append(
            f"due {due:%Y-%m-%d %H:%M} UTC"
            + (f" ({humanize(left)} left)" if left.total_seconds() > 0 else "")
            + (" · your extension" if terms["extended"] else "")
        )
    if terms["closes_at"] and terms["closes_at"] != terms["due_at"]:
        parts.append(f"closes {datetime.fromisoformat(terms['closes_at']):%Y-%m-%d %H:%M} UTC")
    if terms["submissions_left"] is not None:
        parts.append(f"{terms['submissions_left']} submissions left")
    if parts:
        st.caption(" · ".join(parts))
    if not terms["open_now"]:
        st.warning(terms["message_now"])
    elif terms["credit_now"] < 1:
        st.warning(f"Submitting now is late: {terms['window_now']}.")


def humanize(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 48 * 60:
        return f"{minutes // (24 * 60)} days"
    if minutes >= 120:
        return f"{minutes // 60} h"
    return f"{minutes} min"
