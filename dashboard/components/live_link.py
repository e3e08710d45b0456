"""The Live page's address for one configured stream (`live?stream=<name>`): what a wall tile opens, and what the
Live page reads once, on arrival, to show that stream.

A tile opens it as a new page load rather than by switching pages inside the Streamlit session: a switch made by
the server while the wall's tiles refresh every second let a refresh the browser had already sent run after it,
as a refresh of the wall's page, and Streamlit's browser side then emptied the Live page and failed on its next
update ("Bad delta path index 8 (should be between [0, 0])": a blank page).
"""
from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

LIVE_PAGE_PATH = "live"  # the Live page's address (its file's name, dashboard/views/live.py)
STREAM_PARAMETER = "stream"
MAX_NAME_CHARS = 200  # a stream's name in the address is bounded like any input


def live_stream_link(name: str) -> str:
    """The Live page showing the configured stream `name`, relative to a page of the dashboard."""
    return f"{LIVE_PAGE_PATH}?{urlencode({STREAM_PARAMETER: name})}"


def linked_stream() -> str | None:
    """The stream name this page was opened for (`live_stream_link`), taken from the address once: the address
    then no longer names it, so later choices on the page stand; None when the address names none."""
    if STREAM_PARAMETER not in st.query_params:
        return None
    name = st.query_params[STREAM_PARAMETER][:MAX_NAME_CHARS]
    del st.query_params[STREAM_PARAMETER]
    return name
