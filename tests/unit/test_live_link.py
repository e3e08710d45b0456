"""The Live page's address for one stream (what a wall tile opens): the name travels encoded, is read once on
arrival and then leaves the address, and is bounded like any input."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from streamlit.testing.v1 import AppTest

from dashboard.components.live_link import LIVE_PAGE_PATH, MAX_NAME_CHARS, STREAM_PARAMETER, live_stream_link


def _reader_script() -> None:
    import streamlit as st

    from dashboard.components.live_link import linked_stream

    st.write(repr(linked_stream()))


def test_a_stream_name_travels_in_the_live_page_address() -> None:
    link = urlsplit(live_stream_link("Yard camera & gate #2"))
    assert link.path == LIVE_PAGE_PATH
    assert parse_qs(link.query) == {STREAM_PARAMETER: ["Yard camera & gate #2"]}


def test_the_linked_stream_is_read_once_and_leaves_the_address() -> None:
    app = AppTest.from_function(_reader_script, default_timeout=30)
    app.query_params[STREAM_PARAMETER] = "Demo 3"
    app.run()
    assert app.markdown[0].value == repr("Demo 3")
    assert STREAM_PARAMETER not in app.query_params
    app.run()
    assert app.markdown[0].value == repr(None)


def test_a_long_name_in_the_address_is_cut_to_the_bound() -> None:
    app = AppTest.from_function(_reader_script, default_timeout=30)
    app.query_params[STREAM_PARAMETER] = "x" * (MAX_NAME_CHARS * 10)
    app.run()
    assert app.markdown[0].value == repr("x" * MAX_NAME_CHARS)
