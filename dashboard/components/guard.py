"""Page bodies that fail show one line in the browser; the traceback goes to the server log only."""
from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from core.errors import UserError
from dashboard.components.text import plain

log = logging.getLogger(__name__)


def run_guarded(body: Callable[[], object]) -> None:
    """Run a page body: a UserError shows its message, any other error a one-line notice (trace in the log).
    Streamlit's own st.stop/st.rerun are BaseExceptions and pass through."""
    try:
        body()
    except UserError as error:
        st.error(plain(error))
    except Exception as error:  # noqa: BLE001  (the whole point: no traceback reaches the browser)
        log.exception("page failed")
        st.error(f"Something went wrong ({type(error).__name__}); the details are in the server log.")
