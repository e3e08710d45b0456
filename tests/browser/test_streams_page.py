"""The Streams page in headless chromium: the Listening section shows a real sender on 127.0.0.1 arriving (its
address, codec and resolution), says "Nothing arriving" once it stops, and lets the port go when the page is left.

Bounds are generous for a loaded 2-core machine; the one about stopping is read from the page itself: when the
warning appears, the age of the last packet the page reports is under 3 s."""
from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

from core.config import REPO_ROOT, load_settings
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
