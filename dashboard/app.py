"""GradeFlow's dashboard: sign in with an API token, then the pages of your role. It talks to the API only."""

from __future__ import annotations

import importlib

import streamlit as st

from dashboard.client import Api, ApiProblem
from dashboard.routing import pages_for
from gradeflow.settings import Settings

st.set_page_config(page_title="GradeFlow", page_icon=":material/task_alt:", layout="wide")


def api_url() -> str:
    return Settings().with_runtime().resolved_api_url


def sign_in() -> bool:
    """Token in the sidebar; checked against the API. Returns True when signed in."""
    with st.sidebar:
        st.header("GradeFlow")
        token = st.text_input(
            "API token",
            type="password",
            key="token_input",
            help="Your personal token (from your instructor, or printed by `gradeflow up`).",
        )
    if not token:
        st.title("GradeFlow")
        st.info("Sign in with your API token in the sidebar.")
        return False
    if st.session_state.get("signed_in_token") != token:
        client = Api(api_url(), token)
        try:
            st.session_state["me"] = client.get("/me")
        except ApiProblem as exc:
            st.session_state.pop("me", None)
            st.error(str(exc))
            return False
        st.session_state["api"], st.session_state["signed_in_token"] = client, token
    if st.sidebar.button("Sign out"):
        for key in list(st.session_state):
            del st.session_state[key]
        st.rerun()
    return True


def main() -> None:
    if not sign_in():
        return
    me = st.session_state["me"]
    st.sidebar.caption(f"Signed in as **{me['name']}** ({me['role']})")
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
    st.navigation(pages).run()


main()
