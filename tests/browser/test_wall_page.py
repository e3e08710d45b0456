"""The Wall page in headless chromium: every configured stream as a tile at once (four demo streams playing with
their boxes, a silent RTP port saying why nothing arrives), each tile's name, fps and detections on it, and a click
that opens the stream on the Live page (its address: a new page load).

Checks count what the product controls (frames each tile's video showed, boxes it drew, the tile's signal) with
generous bounds; speed is measured by benchmarks/live_wall.py.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from benchmarks.live_viewers import (
    APP_ENV,
    CHROMIUM_WEBRTC_ARGS,
    ERROR_RECORDER_JS,
    PEER_RECORDER_JS,
    configure_streams,
    page_report,
    playing_video,
)
from benchmarks.live_wall import tiles
from core.stream.configured import StreamEntry
from tests.browser.conftest import CHROMIUM, free_port, screenshot, start_streamlit
from tests.polling import wait_until

pytestmark = [pytest.mark.browser]

PLAYING = [f"Demo {number}" for number in range(1, 5)]
SILENT = "Yard camera"


def _demo_uri(number: int) -> str:
    """Each tile its own stream (its own pipeline): small demo streams at 15, 14, 13 and 12 fps."""
    return f"demo:?width=320&height=240&fps={16 - number}"


@pytest.fixture(scope="module")
def wall(tmp_path_factory, browser):
    """A server with four small demo streams and an RTP stream nobody sends to, and a chromium for WebRTC."""
    data_root = tmp_path_factory.mktemp("wall-data")
    silent_port = free_port()
    streams = [StreamEntry(name, _demo_uri(number)) for number, name in enumerate(PLAYING, 1)]
    streams.append(StreamEntry(SILENT, f"rtp://127.0.0.1:{silent_port}?codec=auto"))
    env = {**APP_ENV, **configure_streams(data_root, streams, (silent_port,)), "EDS_MAX_PIPELINES": "5"}
    process, url = start_streamlit(env, data_root, data_root / "console.log")
    webrtc = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_WEBRTC_ARGS)
    yield url, silent_port, webrtc
    webrtc.close()
    process.terminate()
    process.wait(timeout=20)


def _open(webrtc, url: str, viewport: dict):
    context = webrtc.new_context(viewport=viewport)
    context.add_init_script(PEER_RECORDER_JS)
    context.add_init_script(ERROR_RECORDER_JS)
    page = context.new_page()
    page.goto(f"{url}/wall", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Wall").wait_for(timeout=60_000)
    return page


def _by_title(page) -> dict[str, dict]:
    return {tile["title"]: tile for tile in tiles(page)}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 1024, "height": 768}],
                         ids=["1440x900", "1024x768"])
def test_the_wall_shows_every_stream_and_says_why_a_silent_one_has_no_picture(wall, viewport) -> None:
    url, silent_port, webrtc = wall
    page = _open(webrtc, url, viewport)
    wait_until(lambda: set(_by_title(page)) == {*PLAYING, SILENT}, 60, "five tiles")

    def playing_with_boxes() -> bool:
        shown = _by_title(page)
        return all(shown[name].get("frames", 0) >= 10 and shown[name].get("signal") == "live"
                   and shown[name].get("boxes", 0) > 0 for name in PLAYING)

    wait_until(playing_with_boxes, 120, "four tiles playing with boxes drawn")
    silent = page.locator(".eds-live", has_text=SILENT)
    status = silent.locator(".eds-live-status")
    wait_until(lambda: f"nothing arriving on udp/{silent_port}" in status.inner_text(), 30, "the silent tile's reason")
    assert "Likely causes" in status.inner_text() and "firewall" in status.inner_text()
    # the tile's own signal comes with its next overlay, which may follow the status text on a loaded machine
    wait_until(lambda: _by_title(page)[SILENT].get("signal") == "waiting", 30, "the silent tile's signal: waiting")
    # name, fps and detections on each playing tile (what its browser shows)
    for name in PLAYING:
        title = page.locator(".eds-live", has_text=name).locator(".eds-live-title")
        wait_until(lambda: re.fullmatch(rf"{name} · [\d.]+ fps · \d+ detections?", title.inner_text()), 30,
                   f"{name}'s fps and detections")
    screenshot(page, f"wall_page_{viewport['width']}")
    page.context.close()


@pytest.mark.timeout(360)  # limits, not speed: the Live page starts its stream on 2 cores loaded by the wall
def test_a_click_on_a_tile_opens_its_stream_on_the_live_page(wall) -> None:
    url, _, webrtc = wall
    page = _open(webrtc, url, {"width": 1440, "height": 900})
    tile = page.locator(".eds-live", has_text=PLAYING[2])
    wait_until(lambda: _by_title(page).get(PLAYING[2], {}).get("frames", 0) > 0, 120, f"{PLAYING[2]} playing")
    with page.expect_navigation(url=re.compile(r"/live\?stream=Demo(\+|%20)3$"), timeout=30_000):
        tile.click()  # a new page load of the Live page's address for this stream
    page.wait_for_url(re.compile(r"/live$"), timeout=30_000)  # which the page reads once, leaving the address
    try:
        page.get_by_text(re.compile(rf"^source {re.escape(_demo_uri(3))}")).first.wait_for(timeout=120_000)
    except PlaywrightTimeoutError:
        raise AssertionError(f"the Live page did not name the tile's stream within 120 s; "
                             f"{page_report(page, 'wall_click_source_not_shown')}") from None
    playing_video(page, read_stamps=False)  # its video plays (or the failure says what the page shows instead)
    page.wait_for_function("() => document.querySelector('.eds-live')?.liveVideo.frames > 0", timeout=120_000)
    page.context.close()


@pytest.mark.timeout(240)
def test_a_live_page_address_naming_no_configured_stream_says_so(wall) -> None:
    url, _, webrtc = wall
    page = _open(webrtc, url, {"width": 1440, "height": 900})
    page.goto(f"{url}/live?stream=Nowhere%20%3Cb%3E", wait_until="domcontentloaded")
    page.get_by_text("No configured stream is named Nowhere <b> (Streams page).").wait_for(timeout=120_000)
    page.wait_for_url(re.compile(r"/live$"), timeout=30_000)
    page.context.close()
