"""The Live page's health banner: a stream that arrives without a keyframe says so, with the frames skipped."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def _banner_script(state: str) -> None:
    from dashboard.components.live_health import _first_frame, _state_banner

    import streamlit as st

    _state_banner({"state": state, "frames_skipped": 42, "seconds_since_data": 0.0, "first_frame_ms": None})
    st.write(_first_frame({"first_frame_ms": 1834.0}))


@pytest.mark.timeout(60)
def test_banner_says_waiting_for_a_keyframe_with_the_frames_skipped() -> None:
    app = AppTest.from_function(_banner_script, args=("waiting_keyframe",), default_timeout=30)
    app.run()
    assert not app.exception
    assert "Waiting for a keyframe" in app.info[0].value and "42 frames skipped" in app.info[0].value
    assert app.markdown[0].value == "1.8 s"


@pytest.mark.timeout(60)
def test_banner_before_any_data_still_waits_for_the_stream() -> None:
    app = AppTest.from_function(_banner_script, args=("waiting",), default_timeout=30)
    app.run()
    assert not app.exception
    assert app.info[0].value.startswith("Waiting for the stream")
