"""Instructors' pages: the cohort at a glance, regrades, writing assignments, and their dates in each cohort."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, time, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.common import api, call, follow, job_words, me, verdict_words
from gradeflow.limits import DEFAULT_LIMITS, LIMIT_BOUNDS
from gradeflow.vocabulary import BATCH_ENDED, BatchStatus, GradeRule, RecountStatus, Verdict

MARKS = {"solved": "✓ solved", "attempted": "~ attempted", "missing": "✗ missing"}
# Each sandbox limit's field: its label and its kind of number (bounds and defaults: gradeflow/limits.py)
LIMIT_FIELDS: dict[str, tuple[str, type]] = {
    "cpu_seconds": ("CPU s", float),
    "wall_seconds": ("Wall s", float),
    "memory_mb": ("Memory MiB", int),
    "output_kb": ("Output KiB", int),
}
CHANGE_COLUMNS = [
    "student",  # plain word
    "assignment_id",
    "assignment",
    "old_score",
    "new_score",
    "submission_id",
]


def pick_cohort() -> str | None:
    """The cohort the instructor works in: the one chosen in the sidebar (the API keeps the choice)."""
    slug = me().get("cohort")
    if not slug:
        st.info(
            "You teach no cohort yet. An operator adds you to one: `gradeflow cohorts enroll SLUG "
            f"{me()['name']}`."
        )
        return None
    if len(me()["cohorts"]) > 1:
        st.caption(f"Cohort **{slug}** · choose another in the sidebar")
    return slug


def pick_offering(key: str) -> tuple[str, dict] | None:
    """A cohort the instructor teaches and one assignment it offers (with its terms), or None with a message."""
    slug = pick_cohort()
    if not slug:
        return None
    offerings = call(api().get, f"/cohorts/{slug}/assignments")
    if not offerings:
        if offerings == []:
            st.info("This cohort offers no assignment yet.")
        return None
    by_id = {o["assignment_id"]: o for o in offerings}
    # The assignment is in the URL (?assignment=ID: a reload or a link keeps it) and kept for the session (the
    # box's own state is dropped while another page shows, so another page and back keeps it too)
    widget, kept = f"{key}-assignment", f"{key}-assignment-kept"
    linked = st.query_params.get("assignment", "")
    if linked.isdigit() and int(linked) in by_id:
        choice = int(linked)
    else:
        previous = st.session_state.get(kept)
        choice = previous if isinstance(previous, int) and previous in by_id else next(iter(by_id))
    st.session_state[widget] = st.session_state[kept] = choice
    st.query_params["assignment"] = str(choice)

    def chosen_one() -> None:
        st.session_state[kept] = st.session_state[widget]
        st.query_params["assignment"] = str(st.session_state[widget])

    chosen = st.selectbox(
        "Assignment",
        list(by_id),
        format_func=lambda i: (
            by_id[i]["title"]
            + (f" · due {by_id[i]['due_at'][:16].replace('T', ' ')}" if by_id[i]["due_at"] else "")
        ),
        key=widget,
        on_change=chosen_one,
    )
    return slug, by_id[chosen]


def mark(cell: dict | None) -> str:
    """One cell of the matrix as the instructor reads it."""
    if cell is None:
        return "·"
    text = MARKS.get(cell["state"], cell["state"])
    return f"{text[0]} late" if cell.get("late") else text


def lms_roster(slug: str) -> None:
    """A cohort that came from an LMS course: preview who syncing with the course would add and drop, then sync."""
    key = f"lms-roster-{slug}"
    with st.expander("LMS roster"):
        st.caption(
            "For a cohort made by an LMS launch: compare it with the course's members in the LMS. Dropped "
            "students leave the cohort and keep their work; people you added by hand stay."
        )
        if st.button("Preview the sync", key=f"{key}-preview"):
            st.session_state[key] = call(api().get, f"/lti/rosters/{slug}")
        plan = st.session_state.get(key)
        if not plan:
            return
        if not plan["add"] and not plan["drop"]:
            st.success(f"The cohort matches its LMS course ({plan['unchanged']} people).")
            return
        if plan["add"]:
            st.write("Would add: " + ", ".join(f"{m['name']} ({m['role']})" for m in plan["add"]))
        if plan["drop"]:
            st.write("Would drop: " + ", ".join(plan["drop"]))
        if st.button("Sync now", key=f"{key}-apply", type="primary"):
            done = call(api().post, f"/lti/rosters/{slug}")
            st.session_state.pop(key, None)
            if done is not None:
                st.success(f"Synced: {len(done['add'])} added, {len(done['drop'])} dropped.")


def cohort_page() -> None:
    st.title("Cohort")
    slug = pick_cohort()
    if not slug:
        return
    matrix = call(api().get, f"/cohorts/{slug}/matrix")
    if matrix is None:
        return
    lms_roster(slug)
    titles = {str(a["id"]): f"{a['order']}. {a['title']}" for a in matrix["assignments"]}
    rows = [
        {"student": s["name"], **{titles[a]: mark(s["cells"].get(a)) for a in titles}}
        for s in matrix["students"]
    ]
    if not rows:
        st.info("No students in this cohort yet.")
        return
    cells = [c for s in matrix["students"] for c in s["cells"].values()]
    solved = [sum(c["state"] == "solved" for c in s["cells"].values()) for s in matrix["students"]]
    # Points on the one grade scale the gradebook and the students' pages use.
    book = call(api().get, f"/cohorts/{slug}/gradebook") or {"students": [], "rule": GradeRule.BEST}
    totals = [s["total"] for s in book["students"]] or [0.0]
    a, b, c, d, e = st.columns(5)
    a.metric("Students", len(rows))
    b.metric("Median points", f"{pd.Series(totals).median():g}")
    c.metric("Solved everything", sum(n == len(titles) for n in solved))
    d.metric("Missing work", sum(c["state"] == "missing" for c in cells))
    e.metric("Turned in late", sum(bool(c.get("late")) for c in cells))
    st.subheader("Students × assignments")
    st.caption(
        "✓ solved · ~ attempted · ✗ missing (past the student's due date, nothing submitted) · "
        "· not started · ✓ late, ~ late: turned in only after the due date"
    )
    st.dataframe(pd.DataFrame(rows).set_index("student"), width="stretch")
    st.subheader("Score distribution")
    points = pd.DataFrame({"points": totals})
    st.altair_chart(
        alt.Chart(points)
        .mark_bar()
        .encode(
            x=alt.X(
                "points:Q",
                bin=alt.Bin(maxbins=20),
                title=f"points (each student's {book['rule']} graded score per assignment, summed)",
            ),
            y=alt.Y("count():Q", title="students", axis=alt.Axis(tickMinStep=1, format="d")),
        ),
        width="stretch",
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
        slug = pick_cohort()
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
        text=f"{share:.0%} · {batch['done']} of {batch['total']} · {job_words(batch['status'])}",
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
            width="stretch",
        )
    st.download_button(
        "Download CSV",
        table.to_csv(index=False),
        file_name=f"regrade-{batch_id}-changes.csv",
        mime="text/csv",
    )


def read_only(assignment: dict) -> None:
    """An assignment the instructor may not change (it also grades cohorts they do not teach): what it is, and
    a copy of their own to change instead."""
    st.info(
        f"“{assignment['title']}” is also offered to cohorts you do not teach, so changing it would change "
        "how their students are graded. Copy it: the copy takes its place in your cohort (with its dates) "
        "and is yours to edit."
    )
    cohort = me().get("cohort")

    def copy_it() -> (
        None
    ):  # a callback: it may choose the copy in the page's selectbox before it is drawn
        copied = call(api().post, f"/assignments/{assignment['id']}/copy", json={"cohort": cohort})
        if copied:
            st.session_state["assignment-choice"] = copied["id"]
            st.session_state["copied"] = copied

    st.button(
        f"Copy into {cohort}" if cohort else "Copy",
        type="primary",
        key=f"copy-{assignment['id']}",
        disabled=not cohort,
        on_click=copy_it,
    )
    st.markdown(f"**Points** {assignment['points']} · **Order** {assignment['order']}")
    with st.expander("Handout", expanded=True):
        st.markdown(assignment["handout"] or "*No handout.*")
    if assignment.get("test_code"):
        with st.expander("unittest tests"):
            st.code(assignment["test_code"], language=assignment.get("editor_mode") or "python")
    if assignment.get("io_cases"):
        with st.expander(f"I/O cases ({len(assignment['io_cases'])})"):
            st.json(assignment["io_cases"])


def assignments_page() -> None:
    st.title("Assignments")
    assignments = call(api().get, "/assignments") or []
    options = [None] + [a["id"] for a in assignments]
    names = {  # a copy is told from its original by its slug
        a["id"]: f"{a['order']}. {a['title']}"
        + (f" · {a['slug']}" if a.get("copied_from") else "")
        + ("" if a.get("may_edit", True) else " (read-only)")
        for a in assignments
    }
    copied = st.session_state.pop("copied", None)
    if copied:
        where = ", ".join(copied["replaced_in"] or copied["original_kept_in"])
        st.success(
            f"Copied into {where} as “{copied['title']}” ({copied['slug']}): it is yours to edit."
            + (
                " The original stays offered there too, because students already submitted to it."
                if copied["original_kept_in"]
                else ""
            )
        )
    if st.session_state.get("assignment-choice") not in options:
        st.session_state.pop("assignment-choice", None)
    chosen = st.selectbox(
        "Edit",
        options,
        format_func=lambda i: "➕ new assignment" if i is None else names[i],
        key="assignment-choice",
    )
    current = next((a for a in assignments if a["id"] == chosen), None)
    if current is not None and not current.get("may_edit", True):
        read_only(current)
        return
    key = f"form-{chosen}"
    offered = call(api().get, "/languages") or []
    by_name = {lang["name"]: lang for lang in offered}
    if current is not None:  # fixed once the assignment exists
        language = by_name.get(current["language"], {"name": current["language"]})
        st.caption(f"Language: {language.get('title', current['language'])}")
    else:
        name = st.selectbox(
            "Language",
            list(by_name) or ["python"],
            format_func=lambda n: (
                by_name[n]["title"]
                + ("" if by_name[n]["served"] is not False else " (no worker grades it now)")
                if n in by_name
                else n
            ),
            key=f"{key}-language",
        )
        language = by_name.get(name, {"name": name})
    python = language["name"] == "python"
    if language.get("served") is False:
        st.warning(
            f"No running worker grades {language.get('title')} now: its submissions will wait until one "
            "starts, and the reference solution cannot be checked."
        )
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
        "unittest tests (import the student's code as `solution`)"
        if python
        else "Driver: a program that reads a function test's input, calls the student's functions and "
        "prints what they return (optional: I/O cases alone run the student's own program)",
        current.get("test_code", "") if current else "",
        height=220,
        key=f"{key}-tests",
    )
    function_text = "[]"
    if not python:
        function_text = st.text_area(
            "Function tests (JSON list of {name, stdin, stdout, points, hidden}: the driver's input and the "
            "output expected of it)",
            json.dumps(current.get("function_tests", []) if current else [], indent=1),
            key=f"{key}-functions",
        )
    main_class = ""
    if language["name"] == "java":
        main_class = st.text_input(
            "The student's public class",
            ((current or {}).get("language_options") or {}).get("main_class") or "Main",
            key=f"{key}-main-class",
        )
    io_text = st.text_area(
        "I/O cases (JSON list of {stdin, stdout, points, hidden})",
        json.dumps(current.get("io_cases", []) if current else [], indent=1),
        key=f"{key}-io",
    )
    limits = current["limits"] if current else DEFAULT_LIMITS
    cols = st.columns(len(LIMIT_FIELDS))
    limit_values = {}
    for col, (name, (label, kind)) in zip(cols, LIMIT_FIELDS.items(), strict=True):
        low, high = LIMIT_BOUNDS[name]
        limit_values[name] = col.number_input(
            label, kind(low), kind(high), kind(limits[name]), key=f"{key}-{name}"
        )
    reference = st.text_area(
        "Reference solution",
        (current or {}).get("reference_solution") or "",
        height=160,
        key=f"{key}-ref",
    )
    starter = st.text_area(
        "Starter code",
        (current or {}).get("starter_code") or "",
        height=120,
        key=f"{key}-starter",
        help="Students' editors open with it; similarity reports do not count it as shared.",
    )
    try:
        io_cases = json.loads(io_text or "[]")
    except ValueError as exc:
        st.error(f"The I/O cases are not valid JSON: {exc}")
        return
    try:
        function_tests = json.loads(function_text or "[]")
    except ValueError as exc:
        st.error(f"The function tests are not valid JSON: {exc}")
        return
    graded_by: dict = {}
    if not python:
        graded_by["function_tests"] = function_tests
    if main_class and main_class != "Main":
        graded_by["language_options"] = {"main_class": main_class}
    draft = {
        "title": title,
        "starter_code": starter,
        "order": int(order),
        "points": int(points),
        "handout": handout,
        "test_code": tests,
        "io_cases": io_cases,
        "limits": limit_values,
        "reference_solution": reference or None,
        **graded_by,
    }
    if current is None:
        draft["language"] = language["name"]
    # Saving needs a passing check of exactly these tests, limits and solution (the title or handout may change).
    checked_part = {
        "reference_solution": reference,
        "test_code": tests,
        "io_cases": io_cases,
        "limits": limit_values,
        "language": language["name"],
        **graded_by,
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
            elif result["verdict"] == Verdict.COMPILE_ERROR:
                st.error("The reference solution (with the driver) does not compile:")
                st.code(result["message"], language=None)
            elif result["verdict"] == Verdict.TEST_ERROR:
                st.error(f"The tests themselves fail to load: fix them first. {result['message']}")
            else:
                st.error(
                    f"The reference solution does not pass: {verdict_words(result['verdict'])} "
                    f"{result['message']}"
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
            for warning in saved[1].get("warnings") or []:
                st.warning(warning)


WINDOW = re.compile(r"\s*(\d+(?:\.\d+)?)\s*h\s*=\s*(\d+(?:\.\d+)?)\s*%\s*")


def parse_windows(text: str) -> list[dict[str, float]] | None:
    """ "24h=50%, 72h=25%" as the API's late windows, in order of hours; None if it does not read so."""
    if not text.strip():
        return []
    windows = []
    for part in text.split(","):
        m = WINDOW.fullmatch(part)
        if m is None:
            return None
        windows.append({"hours": float(m.group(1)), "credit": float(m.group(2)) / 100})
    return sorted(windows, key=lambda w: w["hours"])


def moment(label: str, current: str | None, key: str, default: datetime) -> str | None:
    """An optional date and time (UTC): None unless its box is ticked."""
    now = datetime.fromisoformat(current) if current else None
    on = st.checkbox(label, value=now is not None, key=f"{key}-on")
    if not on:
        return None
    left, right = st.columns(2)
    start = now or default
    day: date = left.date_input(f"{label}: day (UTC)", start.date(), key=f"{key}-day")
    at: time = right.time_input(
        f"{label}: time (UTC)", start.time().replace(tzinfo=None), key=f"{key}-time"
    )
    return datetime.combine(day, at, tzinfo=UTC).isoformat()


def dates_page() -> None:
    """An assignment's terms in a cohort (release, due, late windows, close, limits) and students' extensions."""
    st.title("Dates")
    picked = pick_offering("dates")
    if picked is None:
        return
    slug, current = picked
    chosen = current["assignment_id"]
    key = f"terms-{slug}-{chosen}-{current['policy_version']}"
    soon = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=7)
    release_at = moment(
        "Release", current["release_at"], f"{key}-release", soon - timedelta(days=7)
    )
    due_at = moment("Due", current["due_at"], f"{key}-due", soon)
    close_at = moment("Hard close", current["close_at"], f"{key}-close", soon + timedelta(days=3))
    windows_text = st.text_input(
        "Late windows",
        ", ".join(f"{w['hours']:g}h={w['credit']:.0%}" for w in current["late_windows"] or []),
        key=f"{key}-windows",
        help="e.g. 24h=50%, 72h=25%: a submission up to 24 hours after the due date gets at most half the "
        "points, up to 72 hours a quarter. Without a hard close, submissions close when the last window ends.",
    )
    windows = parse_windows(windows_text)
    if windows is None:
        st.error("Write late windows as HOURSh=PERCENT%, separated by commas: 24h=50%, 72h=25%.")
        return
    left, right = st.columns(2)
    max_submissions = left.number_input(
        "Max submissions (0: no limit)",
        0,
        10_000,
        current["max_submissions"] or 0,
        key=f"{key}-max",
    )
    min_minutes = right.number_input(
        "Minutes between submissions (0: none)",
        0,
        7 * 24 * 60,
        current["min_minutes_between"] or 0,
        key=f"{key}-gap",
    )
    if st.button("Save dates", type="primary", key=f"{key}-save"):
        saved = call(
            api().put,
            f"/cohorts/{slug}/assignments/{chosen}",
            json={
                "release_at": release_at,
                "due_at": due_at,
                "close_at": close_at,
                "late_windows": windows,
                "max_submissions": int(max_submissions) or None,
                "min_minutes_between": int(min_minutes) or None,
            },
        )
        if saved:
            st.success(
                f"Saved: version {saved['policy_version']} of these terms applies from now on."
            )
            recount_note(saved.get("recompute"))
            current = {**current, **saved}
    extension_form(slug, chosen, current, soon)
    recounts_section(slug, chosen)


def extension_form(slug: str, chosen: int, current: dict, soon: datetime) -> None:
    st.subheader("Extension for one student")
    if not current["due_at"]:
        st.info("Set a due date above first: an extension moves one student's due date later.")
        return
    matrix = call(api().get, f"/cohorts/{slug}/matrix") or {"students": []}
    students = [s["name"] for s in matrix["students"]]
    if not students:
        st.info("No students in this cohort yet.")
        return
    with st.form(f"extension-{slug}-{chosen}"):
        who = st.selectbox("Student", students, key="extension-student")
        start = datetime.fromisoformat(current["due_at"]) if current["due_at"] else soon
        left, right = st.columns(2)
        day = left.date_input(
            "Their due day (UTC)", start.date() + timedelta(days=2), key="extension-day"
        )
        at = right.time_input(
            "Their due time (UTC)", start.time().replace(tzinfo=None), key="extension-time"
        )
        reason = st.text_input(
            "Reason",
            key="extension-reason",
            placeholder="required: kept with the grades it changes",
        )
        if st.form_submit_button("Grant the extension"):
            granted = call(
                api().put,
                f"/cohorts/{slug}/assignments/{chosen}/extensions/{who}",
                json={
                    "due_at": datetime.combine(day, at, tzinfo=UTC).isoformat(),
                    "reason": reason,
                },
            )
            if granted:
                st.success(f"{who} is now due {granted['due_at'][:16].replace('T', ' ')} UTC.")
                recount_note(granted.get("recompute"))


def recount_note(recompute: dict | None) -> None:
    """What changed terms do to grades already given: recounted in the background, no code run again."""
    if not recompute:
        return
    if recompute["status"] == RecountStatus.FAILED:
        st.warning(
            "The grades these terms affect could not be recounted now (Temporal unavailable)."
        )
    else:
        st.info(
            "The grades these terms affect are being recounted from when each submission came in (no code "
            "is run again): see Recounted grades below."
        )


def recounts_section(slug: str, assignment_id: int) -> None:
    """The score ledger for this assignment: each recount after terms or an extension changed, and whose grade it
    changed, from what to what, and why. Followed live while one runs."""
    st.subheader("Recounted grades")
    jobs = recounts_of(slug, assignment_id)
    if jobs is None:
        return
    if any(j["status"] == RecountStatus.RUNNING for j in jobs):
        live_recounts(slug, assignment_id)
    else:
        show_recounts(slug, jobs)


def recounts_of(slug: str, assignment_id: int) -> list[dict] | None:
    jobs = call(api().get, f"/cohorts/{slug}/recomputes", params={"limit": 200})
    return None if jobs is None else [j for j in jobs if j["assignment_id"] == assignment_id]


@st.fragment(run_every=1.0)
def live_recounts(slug: str, assignment_id: int) -> None:
    jobs = recounts_of(slug, assignment_id)
    if jobs is not None and not any(j["status"] == RecountStatus.RUNNING for j in jobs):
        st.rerun()  # all done: the whole page again, without the timer
    show_recounts(slug, jobs or [])


# Whose grade changed is read for this many of the latest recounts (each one is a request).
RECOUNTS_IN_DETAIL = 3


def show_recounts(slug: str, jobs: list[dict]) -> None:
    if not jobs:
        st.caption(
            "None yet. When this assignment's terms or a student's extension change, the grades they affect are "
            "recounted from when each submission came in (no code is run again) and listed here."
        )
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when (UTC)": j["created_at"][:19].replace("T", " "),
                    "status": job_words(j["status"]),
                    "grades looked at": j["checked"],
                    "changed": j["changed"],
                    "why": j["reason"],
                }
                for j in jobs
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    for j in [j for j in jobs if j["changed"]][:RECOUNTS_IN_DETAIL]:
        report = call(api().get, j["links"]["self"].removeprefix("/api/v1"))
        if not report:
            continue
        with st.expander(
            f"{j['created_at'][:16].replace('T', ' ')} · {j['reason']}: {j['changed']} changed"
        ):
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "student": c["student"],
                            "old score": c["old_score"],
                            "new score": c["new_score"],
                            "credit": f"{c['old_credit']:.0%} → {c['new_credit']:.0%}",
                            "why": c["why"],
                        }
                        for c in report["changes"]
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
