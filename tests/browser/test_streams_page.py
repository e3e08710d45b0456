"""The Streams page in headless chromium: the Listening section shows a real sender on 127.0.0.1 arriving (its
address, codec and resolution), says "Nothing arriving" once it stops, and lets the port go when the page is left;
the GStreamer basics picked in the explainer show their question and answer (at 1440x900 and 1024x768).

Bounds are generous for a loaded 2-core machine; the one about stopping is read from the page itself: when the
warning appears, the age of the last packet the page reports is under 3 s."""
from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest
from playwright.sync_api import Error as PlaywrightError

from core.config import REPO_ROOT, load_settings
from core.gst.convert import convert_for_display
from core.gst.examples import ANSWER_CONVERSION, ANSWER_PROPERTIES, BASICS
from core.gst.explain import explain_pipeline, explanation_text
from core.stream.configured import StreamEntry, save_streams
from tests.browser.conftest import free_port, screenshot, start_streamlit
from tests.polling import wait_until

pytestmark = [pytest.mark.browser]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def show_listening(page) -> None:
    """Scroll the page (its main section scrolls, not the window) to the Listening section for a screenshot."""
    page.get_by_role("heading", name="Listening").evaluate("heading => heading.scrollIntoView({block: 'start'})")


def row_cells(page, row) -> dict[str, str]:
    """A row of the Listening table by column name."""
    headers = page.locator('[data-testid="stTable"] thead th').all_inner_texts()
    return dict(zip((h.strip() for h in headers), (c.strip() for c in row.locator("td").all_inner_texts()),
                    strict=True))


@pytest.fixture
def streams_app(tmp_path):
    """The app with one RTP stream configured on a free UDP port of 127.0.0.1 (the only port it may bind)."""
    port = free_port()
    data_root = tmp_path / "data"
    save_streams(load_settings({"EDS_DATA_ROOT": str(data_root), "EDS_RTP_PORTS": str(port)}),
                 [StreamEntry("Jetson", f"rtp://127.0.0.1:{port}?codec=auto"), StreamEntry("Demo stream", "demo:")])
    process, url = start_streamlit({"EDS_RTP_PORTS": str(port)}, data_root)
    yield url, port
    process.terminate()
    process.wait(timeout=20)


@pytest.mark.timeout(180)
def test_listening_shows_a_sender_arrive_and_stop(streams_app, page) -> None:
    url, port = streams_app
    page.goto(f"{url}/streams", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Listening").wait_for(timeout=60_000)
    nothing = page.get_by_text(f"Nothing arriving on udp/{port}")
    nothing.wait_for(timeout=30_000)
    assert not port_is_free(port)  # the page holds the port while it is open
    show_listening(page)
    screenshot(page, "streams_listening_nothing")

    sender = subprocess.Popen([sys.executable, "-m", "core", "send", "--source", "demo:", "--codec", "h265",
                               "--host", "127.0.0.1", "--port", str(port), "--duration", "120"],
                              cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        row = page.locator('[data-testid="stTable"] tbody tr').filter(has_text="Jetson")
        wait_until(lambda: "arriving, decoding" in row.inner_text() and "640x480" in row.inner_text(), 60,
                   "the sender arriving and decoding")
        cells = row_cells(page, row)
        assert re.fullmatch(r"127\.0\.0\.1:\d+", cells["Sender"]) and re.fullmatch(r"[0-9a-f]{8}", cells["SSRC"])
        assert (cells["Codec"], cells["Resolution"], cells["Payload type"]) == ("h265", "640x480", "96"), cells
        assert nothing.count() == 0
        show_listening(page)
        screenshot(page, "streams_listening_arriving")
    finally:
        sender.terminate()
        sender.wait(timeout=10)
    nothing.wait_for(timeout=15_000)
    last_packet = re.fullmatch(r"([\d.]+) s ago", row_cells(page, row)["Last packet"])
    assert last_packet and float(last_packet.group(1)) < 3.0, row_cells(page, row)
    show_listening(page)
    screenshot(page, "streams_listening_stopped")

    page.goto(f"{url}/detect", wait_until="domcontentloaded")  # leave the page: its port is let go
    wait_until(lambda: port_is_free(port), 60, f"udp/{port} released after leaving the Streams page")


def pick_example(page, title: str) -> None:
    """Choose `title` in the Explain section's example picker (the first "Load an example" on the page); its menu
    closes when the page scrolls or redraws under it, and is opened again then."""
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Load an example").first
    option = page.get_by_role("option", name=title, exact=True)

    def chosen() -> bool:
        if option.count():
            try:
                option.click(timeout=2_000)
            except PlaywrightError:  # the menu closed under the click
                return False
            return True
        picker.evaluate("picker => picker.scrollIntoView({block: 'center'})")
        picker.get_by_role("combobox").click()
        return False

    wait_until(chosen, 60, f"the example {title!r} chosen", interval=0.5)


def show(page, text: str) -> None:
    """Scroll the page's main section so that `text` starts the view, for a screenshot."""
    page.get_by_text(text, exact=True).first.evaluate("node => node.scrollIntoView({block: 'start'})")


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("width", "height"), [(1440, 900), (1024, 768)])
def test_the_gstreamer_basics_are_explained_with_their_answers(streams_app, browser, width, height) -> None:
    url, _ = streams_app
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(f"{url}/streams", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Explain a pipeline").wait_for(timeout=60_000)
        line = page.get_by_label("gst-launch-1.0 line").first
        codes = page.locator('[data-testid="stCode"]')
        for number, example in enumerate(BASICS, start=1):
            pick_example(page, example.title)
            page.get_by_text(example.question).wait_for(timeout=30_000)
            assert line.input_value() == example.pipeline
            assert page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count() == 0
            if example.answer == ANSWER_CONVERSION:
                for jetpack in (4, 5):
                    converted = convert_for_display(example.pipeline, jetpack).converted
                    codes.filter(has_text=converted).first.wait_for(timeout=30_000)
            elif example.answer == ANSWER_PROPERTIES:
                answer = codes.filter(has_text="device=/dev/video0: a property of v4l2src").first
                answer.wait_for(timeout=30_000)
                assert ("video/x-raw,framerate=30/1: a capability on the link v4l2src → videoconvert: only "
                        "video/x-raw with framerate=30/1 (fraction) may flow over this link") in answer.inner_text()
            else:
                answer = codes.filter(has_text="4. element agingtv scratch-lines=10").first
                answer.wait_for(timeout=30_000)
                assert explanation_text(explain_pipeline(example.pipeline)) in answer.inner_text()
            show(page, f"Question: {example.question}")
            screenshot(page, f"streams_basics_{number}_{width}x{height}")
    finally:
        context.close()
