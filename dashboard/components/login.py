"""The session check inside Streamlit: every script run and every fragment run first checks this browser's login.

The login itself happens at the HTTP gate (dashboard.gate), which lets no websocket open without a live session.
A websocket outlives a logout, an idle or absolute expiry, or a new password, so the script checks again on every
run: `require_session` at the top of the app, and `fragment` (use it instead of `st.fragment`) before each fragment
run, which reruns without the app's top; `fragment` also gives each fragment a slot of its own (see there). A run
whose login no longer holds draws nothing and sends the browser to the login page. Each Streamlit session is tied
to the login that first ran it, so another login presenting its session id does not take it over. The sidebar's
logout button ends the login on the server (every tab of it).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.access.sessions import COOKIE_NAME, Login, session_table
from core.config import Settings
from dashboard import resources

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _live_login(settings: Settings) -> Login | None:
    """This browser's login if it still holds and this Streamlit session is its own; else None."""
    table = session_table(settings)
    login = table.find(st.context.cookies.get(COOKIE_NAME))
    context = get_script_run_ctx()
    if login is None or context is None or not table.bind(login, context.session_id):
        return None
    return login


def _leave() -> NoReturn:
    """Draw nothing more; the browser goes to the logout address, which shows the login page."""
    st.logout()
    st.stop()


def require_session(settings: Settings) -> None:
    """Return only for a live login (or with authentication off); otherwise stop, sending the browser away."""
    if not settings.auth_enabled:
        st.sidebar.warning("Authentication is off (EDS_AUTH=off): anyone who can reach this address can use the "
                           "dashboard.", icon=":material/lock_open:")
        return
    login = _live_login(settings)
    if login is None:
        _leave()
    if st.sidebar.button("Log out", icon=":material/logout:", key="eds_logout"):
        session_table(settings).end(login)
        _leave()


def fragment(body: Callable[_P, _R] | None = None, *, run_every: float | None = None) -> Any:
    """`st.fragment` whose every run first checks the login (as `require_session` does for the whole app), drawn in
    a slot of its own.

    The slot is a plain container that the page's run draws around the fragment. Streamlit drops the page run's
    unsent drawing of a fragment when a run of that fragment starts right after it (a refresh that came in meanwhile,
    on a busy server), yet the page run still tells the browser to remove what it did not draw: without the slot,
    the fragment's place vanished, every later place moved up one, and the next refresh addressed a place past the
    end (Streamlit's "Bad delta path index", a blank page). With it, only the slot's content goes, and the
    fragment's run draws it again at once, in a place that did not move."""

    def checked_fragment(function: Callable[_P, _R]) -> Callable[_P, _R | None]:
        @functools.wraps(function)
        def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            settings = resources.settings()
            if settings.auth_enabled and _live_login(settings) is None:
                _leave()
            return function(*args, **kwargs)

        running = st.fragment(checked, run_every=run_every)

        @functools.wraps(function)
        def in_its_slot(*args: _P.args, **kwargs: _P.kwargs) -> _R | None:
            with st.container():
                return running(*args, **kwargs)

        return in_its_slot

    return checked_fragment if body is None else checked_fragment(body)
