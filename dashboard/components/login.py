"""The password gate: with a password configured (core.auth), nothing of any page runs before this session logs in."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from core.auth import configured_password, password_matches

_LOGGED_IN = "_eds_logged_in"


def _secrets() -> dict:
    try:
        return st.secrets.to_dict()
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return {}


def require_login() -> None:
    """Show a login form and stop the script unless no password is set or this session has logged in."""
    password = configured_password(secrets=_secrets())
    if password is None or st.session_state.get(_LOGGED_IN):
        return
    st.title("edge detector studio")
    with st.form("login"):
        guess = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        if password_matches(guess, password):
            st.session_state[_LOGGED_IN] = True
            st.rerun()
        st.error("Wrong password.")
    st.stop()
