"""GradeFlow's student page: sign in with a token, solve the first unsolved assignment, watch it being graded."""

from __future__ import annotations

import streamlit as st

from dashboard.client import Api, ApiProblem
from gradeflow.settings import get_settings

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

st.set_page_config(page_title="GradeFlow", page_icon="✅", layout="wide")


def sign_in() -> Api | None:
    with st.sidebar:
        st.header("GradeFlow")
        token = st.text_input("API token", type="password", value=st.session_state.get("token", ""))
        if token:
            st.session_state.token = token
    if not st.session_state.get("token"):
        st.info("Sign in with your API token (in the sidebar).")
        return None
    return Api(get_settings().resolved_api_url, st.session_state.token)


@st.fragment(run_every=0.5)
def live_status(api: Api, submission_id: str) -> None:
    try:
        sub = api.get(f"/submissions/{submission_id}")
    except ApiProblem as exc:
        st.error(str(exc))
        return
    if sub["status"] not in FINAL:
        st.info(f"Status: **{sub['status']}**…")
        return
    if st.session_state.get("shown_result") != submission_id:
        # The result just arrived: rerun the whole page once so points and progress catch up.
        st.session_state.shown_result = submission_id
        st.rerun(scope="app")
    verdict = sub.get("verdict") or "internal_error"
    text = VERDICTS.get(verdict, verdict)
    (st.success if sub.get("passed") else st.error)(
        f"{text} Score {sub['score'] or 0:g} / {sub['max_score']:g}" + (" (from cache)" if sub["cached"] else ""))
    if sub.get("error"):
        st.warning(sub["error"])
    if sub.get("message") and not sub["tests"]:
        st.code(sub["message"], language=None)
    if sub.get("sandbox") == "unsafe":
        st.warning("This grading ran WITHOUT isolation (development mode).")
    for test in sub["tests"]:
        badge = ":green-badge[passed]" if test["passed"] else ":red-badge[failed]"
        st.markdown(f"{badge} `{test['name']}`")
        if test["message"]:
            st.code(test["message"], language=None)
    if sub.get("stdout") or sub.get("stderr"):
        with st.expander("What your program printed"):
            if sub.get("stdout"):
                st.code(sub["stdout"], language=None)
            if sub.get("stderr"):
                st.code(sub["stderr"], language=None)
    if sub.get("passed") and st.button("Next assignment →", key=f"next-{submission_id}"):
        for key in ("submission_id", "assignment_id"):
            st.session_state.pop(key, None)
        st.rerun(scope="app")


def main() -> None:
    api = sign_in()
    if api is None:
        return
    try:
        me = api.get("/me")
        progress = api.get("/me/progress")
    except ApiProblem as exc:
        st.error(str(exc))
        return
    st.sidebar.write(f"Signed in as **{me['name']}** ({me['role']})")
    total = max(progress["total_assignments"], 1)
    st.sidebar.metric("Points", progress["points"])
    st.sidebar.progress(min(progress["points"] / (100 * total), 1.0),
                        text=f"{len(progress['solved'])} of {progress['total_assignments']} solved")
    # Stay on the assignment being worked on until the student moves on, even after it is solved.
    if "assignment_id" not in st.session_state and progress["next_assignment"]:
        st.session_state.assignment_id = progress["next_assignment"]["id"]
    if "assignment_id" not in st.session_state:
        st.success("You have solved every assignment. Well done!")
        return
    try:
        assignment = api.get(f"/assignments/{st.session_state.assignment_id}")
    except ApiProblem as exc:
        st.error(str(exc))
        return
    st.caption(f"Assignment {assignment['order']} of {progress['total_assignments']} · {assignment['points']} points")
    st.markdown(assignment["handout"])
    with st.form(f"submit-{assignment['id']}"):
        code = st.text_area("Your solution (Python)", height=260, key=f"code-{assignment['id']}")
        submitted = st.form_submit_button("Submit")
    if submitted:
        try:
            status, body = api.request("POST", f"/assignments/{assignment['id']}/submissions", json={"code": code})
        except ApiProblem as exc:
            st.error(str(exc))
        else:
            if status == 409:
                st.warning(body["detail"])
                st.session_state.submission_id = body["pending_submission_id"]
            else:
                st.session_state.submission_id = body["id"]
    if st.session_state.get("submission_id"):
        live_status(api, st.session_state.submission_id)


main()
