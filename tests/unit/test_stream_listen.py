"""Listening on the configured RTP ports: the arrival rows, `python -m core streams list/listen`, and the Streams
page's Listening and editor sections (Streamlit's AppTest), with a real sender on 127.0.0.1."""
from __future__ import annotations

import json
import threading

import pytest
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.config import load_settings
from core.stream.configured import StreamEntry, load_streams, save_streams, streams_file
from core.stream.listen_report import arrival_row, arrivals_text, failed_row, listen
from core.stream.rtp_sender import run_sender
from dashboard import resources
from dashboard.components.text import plain
from tests.integration.stream_helpers import free_udp_port
from tests.polling import wait_for


@pytest.fixture
def port(monkeypatch) -> int:
    """A free UDP port, made the only one EDS_RTP_PORTS allows."""
    number = free_udp_port()
    monkeypatch.setenv("EDS_RTP_PORTS", str(number))
    return number


def configure(port: int, *extra: StreamEntry) -> None:
    save_streams(load_settings(), [StreamEntry("Jetson", f"rtp://127.0.0.1:{port}?codec=auto"), *extra])


def send_demo(port: int, seconds: float, codec: str = "h265") -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_sender, args=("demo:?width=320&height=240&fps=15", "127.0.0.1", port, codec),
                              kwargs={"duration": seconds, "stop": stop, "fps": 15.0}, daemon=True)
    thread.start()
    return thread, stop


def test_rows_read_the_receivers_health() -> None:
    row = arrival_row("Jetson", 5000, {
        "sender": "192.0.2.9:40000", "ssrc": 0x1A2B, "payload_type": 96, "codec": "h265", "width": 1280,
        "height": 720, "packets_per_s": 212.4, "last_packet_age_s": 0.03, "packets": 997, "packets_lost": 3,
        "frames_decoded": 40, "not_decoding": None})
    assert (row.arriving, row.status, row.sender, row.ssrc, row.resolution, row.loss, row.last_packet) == (
        True, "arriving, decoding", "192.0.2.9:40000", "00001a2b", "1280x720", "3 (0.3 %)", "0.0 s ago")
    stuck = arrival_row("J", 5000, {"last_packet_age_s": 0.1, "packets": 50, "not_decoding": "no keyframe yet"})
    assert stuck.status == "arriving, not decoding: no keyframe yet"
    quiet = arrival_row("J", 5001, {"last_packet_age_s": 4.2, "packets": 50})
    silent = arrival_row("J", 5002, {"last_packet_age_s": None, "packets": 0})
    assert (quiet.arriving, quiet.status, silent.status, silent.loss) == (False, "nothing for 4 s",
                                                                         "nothing arriving", "–")
    assert arrival_row("J", 5001, {"last_packet_age_s": 1.5, "packets_per_s": 40.0}).packets_per_s == 0.0
    text = arrivals_text([row, quiet, failed_row("K", 5003, "port in use")])
    assert "Nothing arriving on udp/5001 (J). Likely causes:" in text and "udp/5000" in text.splitlines()[1]
    assert "Nothing arriving on udp/5003" not in text and "cannot listen: port in use" in text


@pytest.mark.timeout(40)
def test_listen_reports_a_real_sender_and_the_cli_prints_it(port, capsys) -> None:
    configure(port, StreamEntry("Demo", "demo:"))
    sender, stop = send_demo(port, 20)
    try:
        (row,) = listen(load_streams(load_settings()), 2.5)
        assert main(["streams", "listen", "--seconds", "2", "--json"]) == 0
    finally:
        stop.set()
        sender.join(timeout=10)
    assert row.arriving and row.sender.startswith("127.0.0.1:") and row.codec == "h265"
    assert row.resolution == "320x240" and row.payload_type == 96 and row.packets_per_s > 0 and row.ssrc
    printed = json.loads(capsys.readouterr().out)
    assert [stream["codec"] for stream in printed["streams"]] == ["h265"]
    assert main(["streams", "listen", "--seconds", "1"]) == 1  # the sender is gone
    assert f"Nothing arriving on udp/{port} (Jetson)" in capsys.readouterr().out
    assert main(["streams", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["udp_port"]) for s in listed["streams"]] == [("Jetson", port), ("Demo", None)]


def listening_page() -> None:
    from dashboard.components.stream_listen import listening_section

    listening_section()


def editor_page() -> None:
    from dashboard.components.stream_listen import streams_editor_section

    streams_editor_section()


@pytest.fixture(autouse=True)
def _sections_alone(monkeypatch) -> None:
    """The sections without the app's login (the fragments' login check is tested in test_auth)."""
    monkeypatch.setenv("EDS_AUTH", "off")


def app_for(script) -> AppTest:
    from dashboard import resources

    resources.settings.clear()  # the settings of this test's data root and ports
    resources.live.clear()  # and the live service built from them
    return AppTest.from_function(script, default_timeout=30)


def close_listeners(app: AppTest) -> None:
    for viewer in app.session_state["streams_listeners"].values():
        viewer.close()


@pytest.mark.timeout(60)
def test_listening_section_holds_the_port_only_while_the_page_runs(port) -> None:
    configure(port, StreamEntry("Gate", "rtsp://cam:secret@192.0.2.1/live"))
    uri = f"rtp://127.0.0.1:{port}?codec=auto"
    app = app_for(listening_page).run()
    try:
        assert not app.exception
        assert resources.live().registry.viewers(uri) == 1
        assert any(f"Nothing arriving on udp/{port}" in warning.value for warning in app.warning)
        assert plain("rtsp://***@192.0.2.1/live") in app.caption[0].value and "secret" not in app.caption[0].value
        sender, stop = send_demo(port, 20)
        table = None

        def decoding() -> bool:
            nonlocal table
            app.run()
            table = app.table[0].value
            return table["Status"][0] == "arriving, decoding" and table["Resolution"][0] != "–"

        wait_for(decoding, 15, interval=0.5)
        stop.set()
        sender.join(timeout=10)
        assert table["Status"][0] == "arriving, decoding" and table["Codec"][0] == "h265"
        assert table["Sender"][0].startswith("127.0.0.1:") and table["Resolution"][0] == "320x240"
        assert not app.warning
    finally:
        close_listeners(app)
    registry = resources.live().registry
    assert registry.viewers(uri) == 0 and registry.get(uri) is None


@pytest.mark.timeout(60)
def test_editor_saves_valid_streams_and_refuses_invalid_ones() -> None:
    app = app_for(editor_page).run()
    assert not app.exception and not streams_file(load_settings()).exists()
    app.button(key="streams_save").click().run()
    assert not app.exception and not app.error
    assert load_streams(load_settings())[0].uri == "demo:"
    assert app.success[0].value == "Saved 2 streams."

    path = streams_file(load_settings())
    path.write_text('[[stream]]\nname = "Cam"\nuri = "rtsp://u:pw@192.0.2.1:70000/x"\n\n'
                    '[[stream]]\nname = "Cam"\nuri = "rtp://0.0.0.0:1?codec=h265"\n', encoding="utf-8")
    before = path.read_bytes()
    app = app_for(editor_page).run()
    assert len(app.warning) == 3  # the file as it is: each problem once
    app.button(key="streams_save").click().run()
    errors = [error.value for error in app.error]
    assert len(errors) == 3 and any("used twice" in error for error in errors)
    assert all("pw@" not in error and plain("pw@") not in error for error in errors)
    assert path.read_bytes() == before
