"""Instructors' pages: the cohort at a glance, regrades, and writing assignments."""

from __future__ import annotations

import hashlib
import json

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.common import api, call, follow
from gradeflow.vocabulary import BATCH_ENDED, BatchStatus, Verdict

MARKS = {"solved": "✓ solved", "attempted": "~ attempted"}
CHANGE_COLUMNS = [
    "student",
    "assignment_id",
    "assignment",
    "old_score",
    "new_score",
    "submission_id",
]


def pick_cohort(key: str) -> str | None:
    cohorts = call(api().get, "/cohorts")
    if not cohorts:
        if cohorts == []:
            st.info(
                "You do not teach any cohort yet (`gradeflow users add NAME --role instructor --cohort SLUG`)."
            )
        return None
    return st.selectbox(
        "Cohort",
        [c["slug"] for c in cohorts],
        key=key,
        format_func=lambda s: (
            f"{s} ({next(c['students'] for c in cohorts if c['slug'] == s)} students)"
        ),
    )


def cohort_page() -> None:
    st.title("Cohort")
    slug = pick_cohort("cohort-page")
    if not slug:
        return
    matrix = call(api().get, f"/cohorts/{slug}/matrix")
    if matrix is None:
        return
    titles = {str(a["id"]): f"{a['order']}. {a['title']}" for a in matrix["assignments"]}
    rows = [
        {
            "student": s["name"],
            **{titles[a]: MARKS.get(s["cells"].get(a, {}).get("state"), "·") for a in titles},
        }
        for s in matrix["students"]
    ]
    if not rows:
        st.info("No students in this cohort yet.")
        return
    solved = [sum(c["state"] == "solved" for c in s["cells"].values()) for s in matrix["students"]]
    a, b, c = st.columns(3)
    a.metric("Students", len(rows))
    b.metric("Median points", int(100 * pd.Series(solved).median()))
    c.metric("Solved everything", sum(n == len(titles) for n in solved))
    st.subheader("Students × assignments")
    st.caption("✓ solved · ~ attempted · · not started")
    st.dataframe(pd.DataFrame(rows).set_index("student"), use_container_width=True)
    st.subheader("Score distribution")
    points = pd.DataFrame({"points": [100 * n for n in solved]})
    st.altair_chart(
        alt.Chart(points)
        .mark_bar()
        .encode(
            x=alt.X("points:O", title="points (100 per solved assignment)"),
            y=alt.Y("count():Q", title="students", axis=alt.Axis(tickMinStep=1, format="d")),
        ),
        use_container_width=True,
    )
    gradebook_download(slug)


def gradebook_download(slug: str) -> None:
    """The cohort's grades as a file an LMS imports (the API's gradebook, in the layout chosen)."""
    st.subheader("Gradebook")
    layout = st.radio(
        "Layout",
        ["canvas", "moodle", "json"],
        horizontal=True,
        key="gradebook-layout",
        format_func={"canvas": "Canvas CSV", "moodle": "Moodle CSV", "json": "JSON"}.get,
    )
    book = call(api().get, f"/cohorts/{slug}/gradebook", params={"format": layout})
    if book is None:
        return
    data = json.dumps(book, indent=2) if layout == "json" else book
    st.download_button(
        f"Download the {layout} gradebook",
        data,
        file_name=f"{slug}-gradebook-{layout}.{'json' if layout == 'json' else 'csv'}",
        mime="application/json" if layout == "json" else "text/csv",
        key="gradebook-download",
    )


def regrades_page() -> None:
    st.title("Regrades")
    with st.form("start-regrade"):
        st.write("Re-grade the latest submission of every student against the current tests.")
        slug = pick_cohort("regrade-cohort")
        assignments = call(api().get, "/assignments") or []
        options = [None] + [a["id"] for a in assignments]
        names = {a["id"]: f"{a['order']}. {a['title']}" for a in assignments}
        only = st.selectbox(
            "Assignment",
            options,
            format_func=lambda i: "all assignments" if i is None else names[i],
        )
        if st.form_submit_button("Start regrade", type="primary") and slug:
            started = call(api().post, "/regrades", json={"cohort": slug, "assignment_id": only})
            if started:
                st.session_state["regrade_id"] = started["id"]
    batches = call(api().get, "/regrades") or []
    if not batches:
        st.info("No regrades yet.")
        return
    ids = [b["id"] for b in batches]
    current = st.session_state.get("regrade_id") or ids[0]
    chosen = st.selectbox(
        "Batch",
        ids,
        index=ids.index(current) if current in ids else 0,
        format_func=lambda i: next(
            f"{b['created_at'][:19].replace('T', ' ')} · {b['cohort']}"
            + (f" · assignment {b['assignment_id']}" if b["assignment_id"] else "")
            for b in batches
            if b["id"] == i
        ),
    )
    st.session_state["regrade_id"] = chosen
    # Progress while it runs; the changed scores once it has ended.
    if follow(f"/regrades/{chosen}", lambda batch: batch["status"] in BATCH_ENDED, show_batch):
        changed_scores(chosen)


def show_batch(batch: dict) -> None:
    batch_id = batch["id"]
    share = (
        batch["done"] / batch["total"]
        if batch["total"]
        else (1.0 if batch["status"] == BatchStatus.COMPLETED else 0.0)
    )
    st.progress(
        min(share, 1.0),
        text=f"{share:.0%} · {batch['done']} of {batch['total']} · {batch['status']}",
    )
    a, b, c, d = st.columns(4)
    a.metric("Changed", batch["changed"])
    b.metric("Errors", batch["errors"])
    c.metric("Rate", f"{batch['rate_per_second']:.1f}/s")
    d.metric("ETA", f"{batch['eta_seconds']:.0f} s" if batch["eta_seconds"] is not None else "—")
    # The API says which actions the batch allows now; the buttons follow it.
    for column, action in zip(st.columns(3), ("pause", "resume", "cancel"), strict=True):
        if column.button(
            action.capitalize(),
            key=f"{action}-{batch_id}",
            disabled=action not in batch.get("actions", []),
        ):
            call(api().post, f"/regrades/{batch_id}/{action}")
            st.rerun(scope="app")


def changed_scores(batch_id: str) -> None:
    changes = call(api().get, f"/regrades/{batch_id}/changes")
    if changes is None:
        return
    st.subheader(f"Changed scores ({len(changes)})")
    # The same columns as the API's ?format=csv, from the rows already here rather than a second request.
    table = pd.DataFrame(changes, columns=CHANGE_COLUMNS)
    if changes:
        st.dataframe(
            table[["student", "assignment", "old_score", "new_score"]],
            hide_index=True,
            use_container_width=True,
        )
    st.download_button(
        "Download CSV",
        table.to_csv(index=False),
        file_name=f"regrade-{batch_id}-changes.csv",
        mime="text/csv",
    )


def assignments_page() -> None:
    st.title("Assignments")
    assignments = call(api().get, "/assignments") or []
    options = [None] + [a["id"] for a in assignments]
    names = {a["id"]: f"{a['order']}. {a['title']}" for a in assignments}
    chosen = st.selectbox(
        "Edit", options, format_func=lambda i: "➕ new assignment" if i is None else names[i]
    )
    current = next((a for a in assignments if a["id"] == chosen), None)
    key = f"form-{chosen}"
    title = st.text_input("Title", current["title"] if current else "", key=f"{key}-title")
    left, right = st.columns(2)
    order = left.number_input(
        "Order",
        value=int(current["order"]) if current else len(assignments) + 1,
        key=f"{key}-order",
    )
    points = right.number_input(
        "Points", 1, 10_000, int(current["points"]) if current else 100, key=f"{key}-points"
    )
    write, preview = st.tabs(["Handout (Markdown)", "Preview"])
    handout = write.text_area(
        "Handout", current["handout"] if current else "", height=180, key=f"{key}-handout"
    )
    preview.markdown(handout or "*Nothing yet.*")
    tests = st.text_area(
        "unittest tests (import the student's code as `solution`)",
        current.get("test_code", "") if current else "",
        height=220,
        key=f"{key}-tests",
    )
    io_text = st.text_area(
        "I/O cases (JSON list of {stdin, stdout, points, hidden})",
        json.dumps(current.get("io_cases", []) if current else [], indent=1),
        key=f"{key}-io",
    )
    limits = (
        current["limits"]
        if current
        else {"cpu_seconds": 2.0, "wall_seconds": 5.0, "memory_mb": 256, "output_kb": 256}
    )
    cols = st.columns(4)
    limit_values = {
        "cpu_seconds": cols[0].number_input(
            "CPU s", 0.1, 30.0, float(limits["cpu_seconds"]), key=f"{key}-cpu"
        ),
        "wall_seconds": cols[1].number_input(
            "Wall s", 0.5, 60.0, float(limits["wall_seconds"]), key=f"{key}-wall"
        ),
        "memory_mb": cols[2].number_input(
            "Memory MiB", 32, 2048, int(limits["memory_mb"]), key=f"{key}-mem"
        ),
        "output_kb": cols[3].number_input(
            "Output KiB", 1, 16384, int(limits["output_kb"]), key=f"{key}-out"
        ),
    }
    reference = st.text_area(
        "Reference solution",
        (current or {}).get("reference_solution") or "",
        height=160,
        key=f"{key}-ref",
    )
    try:
        io_cases = json.loads(io_text or "[]")
    except ValueError as exc:
        st.error(f"The I/O cases are not valid JSON: {exc}")
        return
    draft = {
        "title": title,
        "order": int(order),
        "points": int(points),
        "handout": handout,
        "test_code": tests,
        "io_cases": io_cases,
        "limits": limit_values,
        "reference_solution": reference or None,
    }
    # Saving needs a passing check of exactly these tests, limits and solution (the title or handout may change).
    checked_part = {
        "reference_solution": reference,
        "test_code": tests,
        "io_cases": io_cases,
        "limits": limit_values,
    }
    fingerprint = hashlib.sha256(json.dumps(checked_part, sort_keys=True).encode()).hexdigest()
    checked = st.session_state.get("checked") == fingerprint
    check, save = st.columns(2)
    if check.button("Check the reference solution", disabled=not reference):
        result = call(api().post, "/assignments/check", json=checked_part)
        if result:
            for test in result["tests"]:
                st.markdown(
                    f"{':green-badge[passed]' if test['passed'] else ':red-badge[failed]'} `{test['name']}`"
                    + (f" — {test['message']}" if test["message"] and not test["passed"] else "")
                )
            if result["passed"]:
                st.session_state["checked"] = fingerprint
                checked = True
                st.success("The reference solution passes these tests.")
            elif result["verdict"] == Verdict.TEST_ERROR:
                st.error(f"The tests themselves fail to load: fix them first. {result['message']}")
            else:
                st.error(
                    f"The reference solution does not pass: {result['verdict']}. {result['message']}"
                )
    if save.button(
        "Save",
        type="primary",
        disabled=not checked,
        help="Check the reference solution against these tests first.",
    ):
        saved = (
            call(api().request, "PUT", f"/assignments/{chosen}", json=draft)
            if current
            else call(api().request, "POST", "/assignments", json=draft)
        )
        if saved:
            st.success(
                f"Saved “{saved[1]['title']}” (test version {saved[1]['test_version'][:8]})."
            )
