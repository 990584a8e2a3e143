"""The instructor's similarity page: start a report for an assignment, watch it, read the pairs ranked by similarity,
open one side by side with the shared fragments highlighted, flag or dismiss it with a note, download CSV."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from dashboard.client import ApiProblem
from dashboard.common import api, call, job_words, plural
from dashboard.instructor import pick_offering
from gradeflow.vocabulary import REPORT_ACTIVE, PairReview, ReportStatus

# One colour per shared fragment, the same on both sides (the largest fragments first).
FRAGMENT_COLOURS = ["#ffe08a", "#b5e3ff", "#c8f2c2", "#ffc9de", "#e1d3ff", "#ffd8b5"]


def highlighted(code: str, fragments: list[dict], side: str) -> str:
    """The code as HTML with line numbers, each line of a shared fragment marked in its fragment's colour."""
    colour_of: dict[int, str] = {}
    for n, f in reversed(list(enumerate(fragments))):  # the largest wins where fragments overlap
        first, last = f[side]
        for shared in range(first, last + 1):
            colour_of[shared] = FRAGMENT_COLOURS[n % len(FRAGMENT_COLOURS)]
    rows = []
    for number, line in enumerate(code.splitlines() or [""], start=1):
        colour = colour_of.get(number)
        style = f"background:{colour};" if colour else ""
        marked = ' data-shared="1"' if colour else ""
        rows.append(
            f'<div style="{style}white-space:pre"{marked}><span style="color:#8a8d99;'
            f'display:inline-block;width:3em;user-select:none">{number}</span>{html.escape(line)}</div>'
        )
    return (
        '<div style="font-family:ui-monospace,monospace;font-size:0.82rem;line-height:1.35;'
        'border:1px solid #e1e3ea;border-radius:.4rem;padding:.4rem;overflow-x:auto">'
        + "".join(rows)
        + "</div>"
    )


def similarity_page() -> None:
    st.title("Similarity")
    st.caption(
        "Each student's latest submission compared with everyone else's: names, literals, comments and layout do "
        "not hide a copy; the starter code and what most students write do not count as shared."
    )
    picked = pick_offering("similarity")
    if picked is None:
        return
    slug, offering = picked
    assignment = offering["assignment_id"]
    reports = call(
        api().get,
        "/similarity/reports",
        params={"cohort": slug, "assignment_id": assignment, "limit": 1},
    )
    if reports is None:
        return
    latest = reports[0] if reports else None
    if latest and latest["status"] in REPORT_ACTIVE:
        follow_report(latest["id"])
        return
    label = "Start a similarity report" if latest is None else "Run the report again"
    if st.button(label, type="primary" if latest is None else "secondary"):
        started = call(
            api().post, "/similarity/reports", json={"cohort": slug, "assignment_id": assignment}
        )
        if started:
            st.rerun()
    if latest is None:
        st.info("No report for this assignment yet.")
        return
    show_report(latest["id"])


@st.fragment(run_every=1.0)
def follow_report(report_id: str) -> None:
    report = call(api().get, f"/similarity/reports/{report_id}", params={"pairs": 0})
    if report is None:
        return
    if report["status"] not in REPORT_ACTIVE:
        st.rerun()  # done: the whole page again, with the pairs
    total = max(report["total"], 1)
    if report["fingerprinted"] < report["total"] or report["total"] == 0:
        st.progress(
            report["fingerprinted"] / total,
            text=f"Fingerprinting: {report['fingerprinted']} of {report['total']} submissions",
        )
    else:
        st.progress(1.0, text="Comparing the candidate pairs…")
    if st.button("Cancel the report"):
        call(api().post, f"/similarity/reports/{report_id}/cancel")
        st.rerun()


def show_report(report_id: str) -> None:
    report = call(api().get, f"/similarity/reports/{report_id}", params={"pairs": 200})
    if report is None:
        return
    when = report["cutoff"][:16].replace("T", " ")
    if report["status"] != ReportStatus.COMPLETED:
        st.warning(
            f"The last report ({when} UTC) ended {job_words(report['status'])}"
            + (f": {report['error']}" if report.get("error") else "")
        )
        return
    st.write(
        f"Report of {when} UTC: {plural(report['total'], 'student')} compared, "  # plain word
        f"{plural(report['candidates'], 'pair')} shared something, {len(report['pairs'])} listed."
    )
    if report["newer"]:
        st.info(
            f"{report['newer']} student(s) submitted since: run the report again to include them.",
            icon=":material/update:",
        )
    if not report["pairs"]:
        st.success("No pair shares more than the starter code and what most students write.")
        return
    table = pd.DataFrame(
        [
            {
                "rank": p["rank"],
                "similarity": f"{p['similarity']:.0%}",
                "student A": p["a_student"],
                "student B": p["b_student"],
                "of A's code": f"{p['share_a']:.0%}",
                "of B's code": f"{p['share_b']:.0%}",
                "largest fragment (lines)": p["longest_lines"],
                "review": p["review"],
            }
            for p in report["pairs"]
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch")
    client = api()

    def export() -> str:
        """Read only when the button is pressed (in a thread of Streamlit's: no session state there)."""
        try:
            return client.request("GET", f"/similarity/reports/{report_id}/export")[1]
        except ApiProblem as exc:
            return f"error: {exc}\n"

    st.download_button(
        "Download CSV",
        export,
        file_name=f"similarity-{report['cohort']}-{report['assignment_id']}.csv",
        mime="text/csv",
    )
    ranks = [p["rank"] for p in report["pairs"]]
    names = {
        p["rank"]: f"#{p['rank']}: {p['a_student']} and {p['b_student']}" for p in report["pairs"]
    }
    rank = st.selectbox(
        "Open a pair", ranks, format_func=lambda r: names[r], key=f"pair-{report_id}"
    )
    if rank is not None:
        show_pair(report_id, rank)


def show_pair(report_id: str, rank: int) -> None:
    pair = call(api().get, f"/similarity/reports/{report_id}/pairs/{rank}")
    if pair is None:
        return
    st.subheader(f"{pair['a_student']} and {pair['b_student']}: {pair['similarity']:.0%} similar")
    st.caption(
        f"{plural(len(pair['fragments']), 'shared fragment')}, the largest "
        f"{plural(pair['longest_lines'], 'line')}; "
        "each fragment has one colour on both sides."
    )
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{pair['a_student']}** ({pair['share_a']:.0%} of their code shared)")
        st.html(highlighted(pair["a_code"], pair["fragments"], "a"))
    with right:
        st.markdown(f"**{pair['b_student']}** ({pair['share_b']:.0%} of their code shared)")
        st.html(highlighted(pair["b_code"], pair["fragments"], "b"))
    with st.form(f"review-{report_id}-{rank}"):
        choices = [PairReview.OPEN, PairReview.FLAGGED, PairReview.DISMISSED]
        review = st.radio(
            "Review",
            choices,
            index=choices.index(pair["review"]),
            horizontal=True,
            format_func={"open": "Open", "flagged": "Flag", "dismissed": "Dismiss"}.get,
        )
        note = st.text_input("Note", pair["note"])
        if st.form_submit_button("Save the review"):
            saved = call(
                api().put,
                f"/similarity/reports/{report_id}/pairs/{rank}/review",
                json={"review": review, "note": note},
            )
            if saved:
                st.success(f"Saved: {saved['review']}.")
