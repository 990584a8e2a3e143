"""The student's page: assignments in course order, the handout, a code editor, live grading feedback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard.common import api, call, follow, verdict_words
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
            latest["code"] if latest else (assignment.get("starter_code") or STARTER)
        )
    return st.session_state[key]


def editor(assignment_id: int, start: str) -> str:
    key = f"code-{assignment_id}"
    if st_ace is not None:
        return (
            st_ace(
                value=start,
                language="python",
                theme="github",
                key=key,
                height=280,
                auto_update=True,
                font_size=14,
                tab_size=4,
                show_gutter=True,
                wrap=False,
                placeholder="def ...",
            )
            or ""
        )
    return st.text_area("Your solution (Python)", value=start, height=280, key=key)


def show_progress_or_result(sub: dict) -> None:
    if sub["status"] in FINAL_STATUSES:
        show_result(sub)
    else:
        st.info(f"Grading… status: **{sub['status']}**", icon=":material/hourglass_top:")


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
# or a link opened in another tab show what the URL says. The sidebar's radio follows the URL, never the other
# way round, so a click is never undone by the next run.
QUERY = "assignment"
PICKED = "assignment-picked"


def open_assignment(assignment: dict) -> None:
    """Go to an assignment: a new URL (a step Back returns from)."""
    st.query_params[QUERY] = assignment["slug"]


def picked(by_id: dict[int, dict], by_label: dict[str, dict]) -> None:
    """A click in the sidebar. Streamlit may hand back the label rather than the id (it keeps a radio's value as
    its label, and a label changes when the assignment is solved), so either finds the assignment."""
    value = st.session_state[PICKED]
    chosen = by_id.get(value) or by_label.get(value)
    if chosen is not None:
        open_assignment(chosen)


def chosen_assignment(assignments: list[dict], progress: dict) -> dict:
    """The assignment the URL names; without one (or one this cohort does not offer), the one the student was
    on, else their first unsolved one: continue where they left off."""
    by_slug = {a["slug"]: a for a in assignments}
    by_id = {a["id"]: a for a in assignments}
    current = by_slug.get(st.query_params.get(QUERY, ""))
    if current is None:
        current = (
            by_id.get(st.session_state.get("assignment_id"))
            or progress["next_assignment"]
            or assignments[-1]
        )
        current = by_id.get(current["id"], assignments[-1])
        st.query_params[QUERY] = current["slug"]
    if st.session_state.get(PICKED) != current["id"]:
        st.session_state[PICKED] = current["id"]  # before the radio is drawn: it shows the URL's
    return current


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
    labels = {
        a["id"]: f"{'✓' if a['id'] in solved else '○'}  {a['order']}. {a['title']}"
        for a in assignments
    }
    with st.sidebar:
        st.radio(
            "Assignments",
            list(by_id),
            format_func=labels.get,
            key=PICKED,
            on_change=picked,
            args=(by_id, {label: by_id[i] for i, label in labels.items()}),
        )
    st.session_state["assignment_id"] = current["id"]
    assignment = current
    if not progress["next_assignment"]:
        st.success("You have solved every assignment. Well done!")
    st.caption(
        f"Assignment {assignment['order']} of {len(assignments)} · {assignment['points']} points"
        + (" · solved" if assignment["id"] in solved else "")
    )
    show_terms(assignment["id"])
    st.markdown(assignment["handout"])
    for example in assignment.get("examples") or []:
        st.code(f"input:\n{example['stdin']}\nexpected output:\n{example['stdout']}", language=None)
    history = (
        call(api().get, "/me/submissions", params={"assignment_id": assignment["id"], "limit": 20})
        or []
    )
    code = editor(assignment["id"], starting_code(assignment, history))
    st.caption(f"{len(code.splitlines())} lines · {len(code)} characters · limit 64 KiB")
    mine = f"submission-{assignment['id']}"  # the one this page follows, per assignment
    if st.button(
        f"Submit to “{assignment['title']}”", type="primary", key=f"submit-{assignment['id']}"
    ):
        result = call(
            api().request,
            "POST",
            f"/assignments/{assignment['id']}/submissions",
            expect=(409,),
            json={"code": code},
        )
        if result is not None:
            status, body = result
            if status == 409:
                st.warning(body["detail"])
                st.session_state[mine] = body["pending_submission_id"]
            else:
                st.session_state[mine] = body["id"]
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
                            "submitted": h["created_at"][:19].replace("T", " "),
                            "status": h["status"],
                            "verdict": h["verdict"] or "",
                            "score": h["score"],
                        }
                        for h in history
                    ]
                ),
                hide_index=True,
                use_container_width=True,
            )


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
