"""What a source's signal is in words (one place for the Live page and the wall), and the Live page saying why
nothing arrives on an RTP port, in place, with the Jetson's sender command for that port one click away."""
from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.live.signal import signal_status
from core.stream.listen_report import nothing_arriving_causes
from dashboard.components.text import plain
from tests.browser.conftest import free_port

WAITING = {"state": "waiting", "frames_skipped": 0, "seconds_since_data": None, "last_packet_age_s": None}


def test_nothing_arriving_on_an_rtp_port_comes_with_the_likely_causes() -> None:
    status = signal_status("rtp://0.0.0.0:5000?codec=auto", WAITING)
    assert (status.state, status.level, status.port) == ("waiting", "info", 5000)
    assert status.causes == tuple(nothing_arriving_causes(5000)) and not status.live
    assert status.summary().splitlines()[0] == "Waiting for the stream: nothing arriving on udp/5000. Likely causes:"
    silent = signal_status("rtp://0.0.0.0:5000", {**WAITING, "state": "no_signal", "seconds_since_data": 4.2,
                                                  "last_packet_age_s": 4.2})
    assert silent.text == "No signal: last frame 4.2 s ago" and silent.level == "error" and silent.port == 5000


def test_a_stream_that_arrives_or_is_not_rtp_has_no_causes() -> None:
    arriving = signal_status("rtp://0.0.0.0:5000", {**WAITING, "last_packet_age_s": 0.1})
    assert arriving.port is None and arriving.summary() == "Waiting for the stream..."
    assert signal_status("demo:", WAITING).port is None
    assert signal_status("demo:", {**WAITING, "state": "live"}).live
    broken = signal_status("rtp://0.0.0.0:5000", {**WAITING, "not_decoding": "no parameter sets yet"})
    assert broken.text == "Packets arrive but nothing decodes: no parameter sets yet" and broken.level == "warning"


def _signal_panel_script(port: int) -> None:
    import streamlit as st

    from dashboard import resources
    from dashboard.components.live_health import signal_panel

    viewer = st.session_state.setdefault("viewer", resources.live().viewer())
    viewer.watch(f"rtp://127.0.0.1:{port}?codec=h265")
    signal_panel(viewer, lambda: None)


@pytest.fixture
def without_login(monkeypatch) -> None:
    """The panel alone: its fragment's login check is tested with the login (test_sessions)."""
    monkeypatch.setenv("EDS_AUTH", "off")
    st.cache_resource.clear()  # settings read with the login on by an earlier test


@pytest.mark.timeout(60)
def test_the_live_page_says_why_nothing_arrives_with_the_sender_command(without_login) -> None:
    port = free_port()
    app = AppTest.from_function(_signal_panel_script, args=(port,), default_timeout=30)
    app.run()
    try:
        assert not app.exception
        assert app.info[0].value == plain("Waiting for the stream...")
        assert app.warning[0].value.startswith(f"**Nothing arriving on udp/{port}**. Likely causes:")
        assert f"Sender command for the Jetson (to udp/{port}" in app.expander[0].label
        command = app.code[0].value
        assert command.startswith("gst-launch-1.0 ") and f"port={port}" in command
    finally:
        app.session_state["viewer"].close()


def _switching_script(starting: bool) -> None:
    from types import SimpleNamespace

    from core.config import DEMO_DIR
    from core.detect import DetectorSpec
    from dashboard.components.live_health import signal_panel

    running = SimpleNamespace(name="mb1-ssd-demo-fp16", backend="onnxruntime")
    source = SimpleNamespace(uri="demo:", health_snapshot=lambda: {"state": "live", "frames_skipped": 0})
    viewer = SimpleNamespace(  # a viewer whose model swap is loading while its pipeline goes on
        touch=lambda: None, pipeline=SimpleNamespace(detector=running, source=source, failure=None),
        request_error=None, starting=starting,
        requested_model=DetectorSpec(DEMO_DIR / "mb1-ssd-demo-fp16.pth", DEMO_DIR / "labels.txt", backend="torch"))
    signal_panel(viewer, lambda: None)


@pytest.mark.timeout(60)
def test_a_model_switch_says_what_loads_and_what_runs_meanwhile(without_login) -> None:
    app = AppTest.from_function(_switching_script, args=(True,), default_timeout=30)
    app.run()
    assert not app.exception
    assert app.info[0].value == (f"Switching to {plain('mb1-ssd-demo-fp16.pth (torch)')}: loading it; the video "
                                 f"goes on with {plain('mb1-ssd-demo-fp16 (onnxruntime)')} meanwhile")
    assert app.success[0].value == "Live"


@pytest.mark.timeout(60)
def test_joining_a_stream_that_runs_another_viewers_model_says_so(without_login) -> None:
    app = AppTest.from_function(_switching_script, args=(False,), default_timeout=30)  # the torch swap never asked
    app.run()
    assert not app.exception
    assert app.info[0].value.startswith(f"This stream runs {plain('mb1-ssd-demo-fp16 (onnxruntime)')}, chosen by "
                                        f"another viewer, not {plain('mb1-ssd-demo-fp16.pth (torch)')}")


def test_a_detector_runs_a_spec_of_its_backend_and_model() -> None:
    from types import SimpleNamespace

    from core.config import DEMO_DIR
    from core.detect import DetectorSpec, runs_spec

    spec = DetectorSpec(DEMO_DIR / "mb1-ssd-demo-fp16.pth", DEMO_DIR / "labels.txt", backend="torch")
    assert runs_spec(SimpleNamespace(name="mb1-ssd-demo-fp16", backend="torch"), spec)
    assert not runs_spec(SimpleNamespace(name="mb1-ssd-demo-fp16", backend="onnxruntime"), spec)
    assert not runs_spec(SimpleNamespace(name="other", backend="torch"), spec)
    served = DetectorSpec(spec.weights, spec.labels, backend="triton", triton_model="ssd")
    assert runs_spec(SimpleNamespace(name="ssd@127.0.0.1:8001", backend="triton"), served)
    assert not runs_spec(SimpleNamespace(name="ssd2@127.0.0.1:8001", backend="triton"), served)
