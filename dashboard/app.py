"""GradeFlow's dashboard: signed in by its cookie (dashboard/session.py), the pages of your role. It talks to the API
only."""

from __future__ import annotations

import importlib

import streamlit as st

from dashboard import session
from dashboard.client import Api, ApiProblem
from dashboard.routing import pages_for
from gradeflow.settings import Settings

st.set_page_config(page_title="GradeFlow", page_icon=":material/task_alt:", layout="wide")


def api_url() -> str:
    return Settings().with_runtime().resolved_api_url


def link(href: str, label: str, primary: bool = False) -> None:
    """A link that opens in this tab (st.link_button opens a new one): sign-in and sign-out are pages of their
    own beside the app."""
    st.html(session.link_html(href, label, primary))


def sign_in() -> bool:
    """The token from the sign-in cookie (set by dashboard/server.py's form), checked against the API. Returns
    True when signed in."""
    st.sidebar.header("GradeFlow")
    token = session.current_token()
    sign_in_url = session.url_path(session.base_url(), session.SIGN_IN_PATH)
    if not token:
        st.title("GradeFlow")
        st.info(
            "Sign in with your API token to see your assignments, or open GradeFlow from your "
            "course in the LMS (Canvas, Moodle, …) if your school links it there."
        )
        link(sign_in_url, "Sign in", primary=True)
        return False
    if st.session_state.get("signed_in_token") != token:
        client = Api(api_url(), token)
        try:
            st.session_state["me"] = client.get("/me")
        except ApiProblem as exc:
            st.session_state.pop("me", None)
            st.error(str(exc))
            link(sign_in_url, "Sign in again")
            return False
        st.session_state["api"], st.session_state["signed_in_token"] = client, token
    with st.sidebar:
        link(session.url_path(session.base_url(), session.SIGN_OUT_PATH), "Sign out")
    return True


def choose_cohort() -> None:
    """Someone in several cohorts picks the one they work in. The cohort is in the URL (?cohort=SLUG: a link to
    a cohort's page opens that cohort, Back returns to the one before) and the API keeps the choice (PUT
    /me/cohort), so a reload, another tab or another day opens there."""
    me = st.session_state["me"]
    if len(me["cohorts"]) < 2:
        return

    def remember(slug: str) -> None:
        try:
            st.session_state["me"] = st.session_state["api"].put(
                "/me/cohort", json={"cohort": slug}
            )
        except ApiProblem as exc:
            st.session_state["cohort-problem"] = str(exc)

    def chosen() -> None:
        st.query_params["cohort"] = st.session_state["cohort-choice"]
        remember(st.session_state["cohort-choice"])

    current = me["cohort"] if me["cohort"] in me["cohorts"] else me["cohorts"][0]
    linked = st.query_params.get("cohort")
    if linked is not None and linked in me["cohorts"] and linked != current:
        remember(linked)  # a link or Back/Forward: the URL says which cohort
        current = st.session_state["me"].get("cohort") or current
    elif linked is not None and linked not in me["cohorts"]:
        st.sidebar.warning(f"You are not in the cohort “{linked}”; showing {current}.")
    if st.query_params.get("cohort") != current:
        st.query_params["cohort"] = current
    if st.session_state.get("cohort-choice") != current:
        st.session_state["cohort-choice"] = current  # before the box is drawn: it shows the cohort
    st.sidebar.selectbox("Cohort", me["cohorts"], key="cohort-choice", on_change=chosen)
    if "cohort-problem" in st.session_state:
        st.sidebar.error(st.session_state.pop("cohort-problem"))


def main() -> None:
    if not sign_in():
        return
    me = st.session_state["me"]
    st.sidebar.caption(f"Signed in as **{me['name']}** ({me['role']})")
    choose_cohort()
    specs = pages_for(me["role"])
    if not specs:
        st.error(f"There is no dashboard for the role '{me['role']}'.")
        return
    pages = [
        st.Page(
            getattr(importlib.import_module(s.module), s.function),
            title=s.title,
            icon=s.icon,
            url_path=s.url_path,
        )
        for s in specs
    ]

    # Streamlit serves its default page at "/" only: a role's first page opened by its own URL (/cohort) would
    # be "not found". So the default is a page of no content that goes to the role's first page, every real
    # page keeps its URL, and the sidebar lists them as links.
    def start() -> None:
        st.switch_page(pages[0], query_params=st.query_params.to_dict())

    navigation = st.navigation(
        [st.Page(start, title="GradeFlow", url_path="start", default=True), *pages],
        position="hidden",
    )
    with st.sidebar:
        for page in pages:
            st.page_link(page)
    navigation.run()


main()
