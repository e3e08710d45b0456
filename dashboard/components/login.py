"""The password gate: nothing of any page runs before this browser session logs in (unless EDS_AUTH=off).

A session logs in with the password (throttled per client address, core.auth) or once with the one-time login URL
printed on the server console; the sidebar then offers a logout button on every page.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from core.auth import CredentialStore, check_guess, configured_password, password_matches, startup_notice
from core.config import Settings
from core.tls import primary_address

_LOGGED_IN = "_eds_logged_in"
LOOPBACK = "loopback"  # st.context.ip_address is None for connections from this host
ANY_ADDRESS = ("", "0.0.0.0", "::")


def _secrets() -> dict:
    try:
        return st.secrets.to_dict()
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return {}


def _base_url() -> str:
    scheme = "https" if st.get_option("server.sslCertFile") else "http"
    address = st.get_option("server.address") or ""
    host = (primary_address() or "localhost") if address in ANY_ADDRESS else address
    return f"{scheme}://{host}:{st.get_option('server.port')}"


@st.cache_resource(show_spinner=False)
def _announce(store_path: str, password_configured: bool) -> None:
    """Print the startup notice on the server console, once per server process."""
    print(startup_notice(CredentialStore(Path(store_path)), _base_url(), password_configured=password_configured),
          flush=True)


def _verifier(settings: Settings) -> tuple[CredentialStore, Callable[[str], bool]]:
    store = CredentialStore.in_data_root(settings.data_root)
    password = configured_password(secrets=_secrets())
    _announce(str(store.path), password is not None)
    if password is not None:
        return store, lambda guess: password_matches(guess, password)
    return store, store.verify


def _try_token(store: CredentialStore, address: str) -> None:
    token = st.query_params.get("token")
    if token is None:
        return
    del st.query_params["token"]  # out of the address bar (and the browser history) whatever happens
    problem = check_guess(address, token, store.consume_token,
                          wrong_message="This login link was already used or has expired.")
    if problem is None:
        st.session_state[_LOGGED_IN] = True
    else:
        st.error(problem)


def _login_form(verify: Callable[[str], bool], address: str) -> None:
    st.title("edge detector studio")
    with st.form("login"):
        guess = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        problem = check_guess(address, guess, verify)
        if problem is None:
            st.session_state[_LOGGED_IN] = True
            st.rerun()
        st.error(problem)


def _logout_button() -> None:
    if st.sidebar.button("Log out", icon=":material/logout:", key="eds_logout"):
        st.session_state.pop(_LOGGED_IN, None)
        st.rerun()


def require_login(settings: Settings) -> None:
    """Return only for a logged-in session (or with authentication off); otherwise show the login form and stop."""
    if not settings.auth_enabled:
        st.sidebar.warning("Authentication is off (EDS_AUTH=off): anyone who can reach this address can use the "
                           "dashboard.", icon=":material/lock_open:")
        return
    store, verify = _verifier(settings)
    address = st.context.ip_address or LOOPBACK
    if not st.session_state.get(_LOGGED_IN):
        _try_token(store, address)
    if st.session_state.get(_LOGGED_IN):
        _logout_button()
        return
    _login_form(verify, address)
    st.stop()
