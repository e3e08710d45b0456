"""Smoke tests of the Streams page's tools (sender command, explain, convert) with Streamlit's AppTest; each section
runs on its own, as the page's listening section belongs to another component."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.components.text import plain

SEED_LOOPBACK = ("gst-launch-1.0 v4l2src ! video/x-raw,framerate=30/1,width=640,height=480 ! nvvidconv ! omxh265enc "
                 "insert-vui=1 ! h265parse ! rtph265pay config-interval=1 ! udpsink host=127.0.0.1 port=5000 "
                 "sync=false -e")


def _tools_page() -> None:
    from core.config import load_settings
    from dashboard.components.stream_tools import convert_section, explain_section, sender_command_section

    sender_command_section(load_settings())
    explain_section()
    convert_section()


@pytest.fixture
def app() -> AppTest:
    page = AppTest.from_function(_tools_page, default_timeout=60)
    page.run()
    assert not page.exception
    return page


@pytest.mark.timeout(120)
def test_the_sender_command_follows_the_form(app: AppTest) -> None:
    assert [header.value for header in app.subheader] == [
        "Sender command for the Jetson", "Explain a pipeline", "Convert for display on the Jetson"]
    app.selectbox(key="streams_host").select("127.0.0.1").run()
    assert app.code[0].value == SEED_LOOPBACK
    app.selectbox(key="streams_preset").select("jetpack5-usb-h264").run()
    app.number_input(key="streams_jetpack5-usb-h264_keyframes").set_value(15).run()
    assert "nvv4l2h264enc bitrate=4000000 iframeinterval=15 idrinterval=15" in app.code[0].value
    assert app.code[0].value.endswith("udpsink host=127.0.0.1 port=5000 sync=false -e")  # the address stays chosen
    app.number_input(key="streams_jetpack5-usb-h264_width").set_value(641).run()
    assert not app.exception
    assert [error.value for error in app.error] == [plain("width and height must be even for 4:2:0 video, not 641x480")]


@pytest.mark.timeout(120)
def test_explain_tables_and_parse_errors(app: AppTest) -> None:
    elements, properties, capabilities = (frame.value for frame in app.dataframe[3:6])  # after the sender's
    assert list(elements["factory"]) == ["v4l2src", "capsfilter", "nvvidconv", "omxh265enc", "h265parse",
                                         "rtph265pay", "udpsink"]
    assert list(properties["property"]) == ["insert-vui", "config-interval", "host", "port", "sync"]
    assert list(capabilities["field"]) == ["framerate", "width", "height"]
    app.text_area(key="streams_explain_text").input("videotestsrc ! ! fakesink").run()
    assert [error.value for error in app.error] == [
        plain("syntax error at column 14: empty element between two '!': '! !'")]


@pytest.mark.timeout(120)
def test_convert_for_jetpack_5(app: AppTest) -> None:
    app.radio(key="streams_convert_jetpack").set_value(5).run()
    assert app.code[1].value.endswith("nvv4l2decoder ! nvvidconv ! nv3dsink -e")
    app.selectbox(key="streams_convert_example").select("CSI camera on the Jetson's display").run()
    assert [error.value for error in app.error] == [
        plain("no display sink to convert: expected one of xvimagesink, ximagesink, autovideosink")]
