"""Operators' pages: find any grading's workflow and read its history, act on failed and stuck work, metrics,
the LMSs (LTI)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.common import api, call
from gradeflow.vocabulary import WorkflowState

SUBMISSION_ROWS = 20
LINK_TEXT = "open"  # plain word
STATUSES = ["", *WorkflowState]


def workflow_table(workflows: list[dict]) -> None:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "workflow": w["workflow_id"],
                    "type": w["type"],
                    "status": w["status"],
                    "started": (w["start_time"] or "")[:19].replace("T", " "),
                    "Temporal UI": w["temporal_ui"],
                }
                for w in workflows
            ]
        ),
        hide_index=True,
        width="stretch",
        # The link's text
        column_config={"Temporal UI": st.column_config.LinkColumn(display_text=LINK_TEXT)},
    )


def workflows_page() -> None:
    st.title("Workflows")
    with st.form("find"):
        a, b, c = st.columns(3)
        submission = a.text_input("Submission id")
        user = b.text_input("User id")
        assignment = c.text_input("Assignment id")
        d, e, f = st.columns(3)
        cohort = d.text_input("Cohort")
        batch = e.text_input("Regrade batch id")
        status = f.selectbox("Status", STATUSES, format_func=lambda s: s or "any")
        found = st.form_submit_button("Find", type="primary")
    params = {
        k: v.strip()
        for k, v in {
            "submission_id": submission,
            "user_id": user,
            "assignment_id": assignment,
            "cohort": cohort,
            "batch_id": batch,
            "status": status,
        }.items()
        if v.strip()
    }
    if found:
        st.session_state["ops_found"] = call(api().get, "/ops/workflows", params=params) or []
        st.session_state.pop("ops_open", None)
        if len(st.session_state["ops_found"]) == 1:
            st.session_state["ops_open"] = st.session_state["ops_found"][0]["workflow_id"]
    workflows = st.session_state.get("ops_found")
    linked = st.query_params.get("workflow")
    if workflows is None and linked:  # a link to one workflow's history (/workflows?workflow=ID)
        history(linked)
        return
    if workflows is None:
        st.caption("Search by any of the fields; a submission id finds its grading directly.")
        return
    if not workflows:
        st.info("No workflow matches.")
        return
    workflow_table(workflows)
    ids = [w["workflow_id"] for w in workflows]
    opened = st.selectbox(
        "History of",
        ids,
        index=ids.index(st.session_state["ops_open"])
        if st.session_state.get("ops_open") in ids
        else 0,
    )
    st.query_params["workflow"] = opened  # the URL names it: a link for a colleague
    history(opened)


def history(workflow_id: str) -> None:
    data = call(api().get, f"/ops/workflows/{workflow_id}")
    if data is None:
        return
    w = data["workflow"]
    st.subheader(f"{w['type']} · {w['status']}")
    if w["temporal_ui"]:
        st.link_button("Open in the Temporal Web UI", w["temporal_ui"])
    st.caption(
        f"{workflow_id} · run {w['run_id']} · {data['history_length']} events · "
        + " · ".join(
            f"{k}={v}" for k, v in w["search_attributes"].items() if k.startswith("Gradeflow")
        )
    )
    rows = [
        {
            "+ms": e["offset_ms"],
            "event": e["type"].replace("_", " "),
            "activity": e.get("activity") or "",
            # Text in every cell: a column of numbers and blanks is not one Arrow type
            "attempt": str(e.get("attempt") or ""),
            "took ms": str(e.get("duration_ms") or ""),
            "failure": str(e.get("failure") or ""),
        }
        for e in data["events"]
    ]
    # Plain HTML: readable, selectable, searchable in the page
    st.table(pd.DataFrame(rows).set_index("+ms"))
    for pending in data["pending_activities"]:
        st.warning(
            f"Pending {pending['activity']}: attempt {pending['attempt']}"
            + (f", last failure: {pending['last_failure']}" if pending["last_failure"] else "")
        )


def act(column, action: str, workflow_id: str, key: str, enabled: bool = True) -> None:
    """A Retry or Terminate button that calls the API and says what happened."""
    if column.button(action.capitalize(), key=f"{action}-{key}", disabled=not enabled):
        body = (
            {"json": {"reason": "terminated from the dashboard"}} if action == "terminate" else {}
        )
        done = call(api().post, f"/ops/workflows/{workflow_id}/{action}", **body)
        if done:
            st.success(f"{action.capitalize()}: {workflow_id} is now {done['status']}.")


def problems_page() -> None:
    st.title("Failed and stuck")
    data = call(api().get, "/ops/problems")
    if data is None:
        return
    for waiting in data.get("languages_waiting") or []:
        what = [
            f"{waiting['waiting']} submission(s)" if waiting.get("waiting") else "",
            f"{waiting['regrades']} regrade(s)" if waiting.get("regrades") else "",
        ]
        st.warning(
            f"{' and '.join(w for w in what if w)} in {waiting['title']} wait: {waiting['why']}."
        )
    a, b, c = st.columns(3)
    a.metric("Failed workflows (24 h)", len(data["failed_workflows"]))
    b.metric("Stuck gradings (> 5 min)", len(data["stuck_workflows"]))
    c.metric("Submissions in trouble", len(data["submissions"]))
    for title, workflows, action in (
        ("Stuck", data["stuck_workflows"], "terminate"),
        ("Failed", data["failed_workflows"], "retry"),
    ):
        st.subheader(title)
        if not workflows:
            st.caption("None.")
            continue
        for w in workflows:
            cols = st.columns([5, 2, 1])
            cols[0].markdown(f"`{w['workflow_id']}` · {w['type']} · {w['status']}")
            if w["temporal_ui"]:
                cols[1].link_button("Temporal UI", w["temporal_ui"])
            act(
                cols[2],
                action,
                w["workflow_id"],
                f"{w['workflow_id']}-{w['run_id']}",
                enabled=action != "retry" or w["workflow_id"].startswith("grade-"),
            )
    st.subheader("Submissions in error or waiting too long")
    if not data["submissions"]:
        st.caption("None.")
    for row in data["submissions"][:SUBMISSION_ROWS]:
        cols = st.columns([5, 2, 1])
        cols[0].markdown(
            f"`{row['id']}` · {row['status']} · {(row['created_at'] or '')[:19].replace('T', ' ')}"
            + (f"  \n{row['error']}" if row["error"] else "")
        )
        # A waiting submission's grading may still be running: retry answers 409 and says to terminate it first.
        act(cols[2], "retry", row["workflow_id"], f"submission-{row['id']}")
    if len(data["submissions"]) > SUBMISSION_ROWS:
        st.caption(f"The newest {SUBMISSION_ROWS} of {len(data['submissions'])}; all of them:")
        st.dataframe(
            pd.DataFrame(data["submissions"]).astype(str), hide_index=True, width="stretch"
        )


def metrics_page() -> None:
    st.title("Metrics (last hour)")
    data = call(api().get, "/ops/metrics")
    if data is None:
        return
    frame = pd.DataFrame(data["series"])
    frame["minute"] = pd.to_datetime(frame["minute"])
    frame = frame.set_index("minute")
    a, b, c, d = st.columns(4)
    a.metric(
        "Intake stream now",
        data["intake_stream_length"] if data["intake_stream_length"] is not None else "?",
    )
    b.metric("Graded (hour)", int(frame["graded"].sum()))
    c.metric("Failed (hour)", int(frame["failed"].sum()))
    latest = frame.dropna(subset=["p95_seconds"])
    d.metric(
        "p95 latency (last minute with data)",
        f"{latest['p95_seconds'].iloc[-1]:.2f} s" if len(latest) else "—",
    )
    st.subheader("Intake queue depth")
    st.line_chart(frame[["queue_depth"]])
    st.subheader("Gradings per minute")
    st.bar_chart(frame[["graded"]])
    st.subheader("Submit-to-result latency (s)")
    st.line_chart(frame[["p50_seconds", "p95_seconds"]])
    st.subheader("Failure rate")
    st.line_chart(frame[["failure_rate"]])


def lms_page() -> None:
    """LTI 1.3: the URLs to give an LMS, the LMSs registered, and grades on their way to them."""
    st.title("LMS (LTI 1.3)")
    urls = call(api().get, "/lti/urls")
    if urls is None:
        return
    st.subheader("Register GradeFlow in an LMS with these")
    for words, key in (
        ("OIDC login initiation URL", "login"),
        ("Redirect / launch URL", "launch"),
        ("Public key set (JWKS) URL", "jwks"),
        ("Deep Linking URL", "deep_linking"),
    ):
        st.text(words)
        st.code(urls[key], language=None)  # with a copy button
    st.caption(
        "Then register the LMS here with what it shows you: `gradeflow lti add NAME --issuer … --client-id … "
        '--auth-login-url … --auth-token-url … --key-set-url … --deployment-id …` (README, "LMS").'
    )
    platforms = call(api().get, "/lti/platforms")
    st.subheader("Registered LMSs")
    if platforms:
        frame = pd.DataFrame(platforms)
        frame["deployment_ids"] = frame["deployment_ids"].map(", ".join)
        st.table(frame[["name", "issuer", "client_id", "deployment_ids", "key_set_url"]])
    elif platforms is not None:
        st.info("No LMS is registered yet.")
    grades = call(api().get, "/lti/grades")
    if grades is None:
        return
    st.subheader("Grades to the LMSs")
    a, b, c = st.columns(3)
    a.metric("Waiting to be sent", grades["pending"])
    b.metric("Last try failed (retrying)", grades["failed"])
    c.metric("Sent, as they are now", grades["sent"])
    if grades["problems"]:
        st.table(pd.DataFrame(grades["problems"]))
