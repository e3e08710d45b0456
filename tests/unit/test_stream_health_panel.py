"""The Live page's signal banner: a stream that arrives without a keyframe says so, with the frames skipped; a
source or model that did not start is shown and asked for again (when due, or at once on "Retry now")."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.components.text import plain


def _banner_script(state: str) -> None:
    from core.live.signal import signal_status
    from dashboard.components.live_health import _first_frame, _state_banner

    import streamlit as st

    _state_banner(signal_status("demo:", {"state": state, "frames_skipped": 42, "seconds_since_data": 0.0,
                                          "first_frame_ms": None}))
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


UNREACHABLE = "inference server unreachable at grpc://127.0.0.1:9: failed to connect to all addresses"


def _retry_script(error: str) -> None:
    from dashboard.components.live_health import _request_failed

    import streamlit as st

    retries = st.session_state.setdefault("retries", [])
    _request_failed(st.session_state.get("error", error), lambda: retries.append(1), st.session_state.get("running"))
    st.write(f"retries {len(retries)}")


@pytest.mark.timeout(60)
def test_a_failed_start_is_shown_and_asked_for_again_when_due_or_at_once_on_retry() -> None:
    app = AppTest.from_function(_retry_script, args=(UNREACHABLE,), default_timeout=30)
    app.run()
    assert not app.exception
    assert app.error[0].value == f"{plain(UNREACHABLE)} (trying again every 5 s)"
    assert app.markdown[0].value == "retries 0"  # not due yet
    app.button(key="live_retry").click().run()
    assert app.markdown[0].value == "retries 1"
    app.session_state["live_retry_at"] = 0.0  # due
    app.run()
    assert app.markdown[0].value == "retries 2"
    app.session_state["running"] = "mb1-ssd-demo-fp16.pth (onnxruntime)"  # a model swap that failed
    app.run()
    assert app.error[0].value == (f"{plain(UNREACHABLE)} (trying again every 5 s; the stream goes on with "
                                  f"{plain('mb1-ssd-demo-fp16.pth (onnxruntime)')} meanwhile)")
    app.session_state["error"] = None  # started: nothing shown, the next failure waits a full period again
    app.run()
    assert not app.error and "live_retry_at" not in app.session_state and app.markdown[0].value == "retries 2"


def _refused_script() -> None:
    from dashboard.components.live_health import _refused_senders

    _refused_senders({"sender": "192.0.2.10:40000", "refused_senders": [
        {"sender": "192.0.2.66:6000", "ssrc": "0badc0de", "packets": 455, "reason": "another sender is followed",
         "seconds_ago": 0.4},
        {"sender": "192.0.2.67:6001", "ssrc": None, "packets": 3, "reason": "not allowed by EDS_RTP_ALLOWED_SENDERS",
         "seconds_ago": 12.0},
        {"sender": "192.0.2.68:6002", "ssrc": "00000001", "packets": 9, "reason": "another sender is followed",
         "seconds_ago": 600.0}]})
    _refused_senders({"sender": None, "refused_senders": []})


@pytest.mark.timeout(60)
def test_the_panel_names_the_senders_refused_in_the_last_minute() -> None:
    app = AppTest.from_function(_refused_script, default_timeout=30)
    app.run()
    assert not app.exception and len(app.warning) == 1
    text = app.warning[0].value
    assert f"this stream follows {plain('192.0.2.10:40000')}" in text
    assert (f"{plain('192.0.2.66:6000')} (SSRC 0badc0de): 455 packets refused, another sender is followed (0 s ago)"
            in text)
    assert (f"{plain('192.0.2.67:6001')}: 3 packets refused, {plain('not allowed by EDS_RTP_ALLOWED_SENDERS')} "
            "(12 s ago)" in text)
    assert plain("192.0.2.68") not in text  # ten minutes ago
