"""The Live page in headless chromium: WebRTC video of the demo stream with detections, the compatibility view,
three viewers sharing one pipeline, "no signal" when the RTP sender stops and recovery when it restarts."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from benchmarks.live_viewers import APP_ENV, CHROMIUM_WEBRTC_ARGS, open_live, probe
from core.config import REPO_ROOT
from tests.browser.conftest import CHROMIUM, free_port, screenshot, start_streamlit

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    process, url = start_streamlit(APP_ENV, tmp_path_factory.mktemp("data"))
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def webrtc_browser(browser):
    """The session's chromium is launched without WebRTC flags; this one (same Playwright) has them."""
    instance = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_WEBRTC_ARGS)
    yield instance
    instance.close()


def _counters(page) -> dict[str, int]:
    text = page.get_by_text(re.compile(r"frames in \d+ · inferences")).first.inner_text()
    return {key: int(value) for key, value in re.findall(r"(frames in|inferences|skipped) (\d+)", text)}


@pytest.mark.timeout(120)
def test_webrtc_shows_demo_stream_with_detections(live_url, webrtc_browser) -> None:
    page, video = open_live(webrtc_browser, live_url)
    time.sleep(1.0)
    before, started = probe(video)["frames"], time.monotonic()
    time.sleep(10.0)
    shown = probe(video)["frames"] - before
    fps = shown / (time.monotonic() - started)
    table = page.locator('[data-testid="stTable"]').first
    table.wait_for(timeout=10_000)
    screenshot(page, "live_page_webrtc")
    assert fps >= 15.0, f"only {fps:.1f} frames/s shown"
    counters = probe(video)["samples"]
    assert len({counter for _, counter in counters[-30:]}) > 10  # the stamped frame number advances in the video
    assert "circle" in table.inner_text() and "star" in table.inner_text()
    page.context.close()


@pytest.mark.timeout(90)
def test_compatibility_view_refreshes_an_image(live_url, webrtc_browser) -> None:
    page = webrtc_browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{live_url}/live", wait_until="domcontentloaded")
    page.get_by_text("Compatibility view").click(timeout=60_000)
    image = page.locator("img.live-image").first
    image.wait_for(timeout=30_000)
    time.sleep(3.0)  # measure the steady state, not the pipeline's start (model load, first inferences)
    sources = set()
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        sources.add(hash(page.locator("img.live-image").first.get_attribute("src")))
        time.sleep(0.1)
    screenshot(page, "live_page_compatibility")
    assert len(sources) >= 5, f"the image changed only {len(sources)} times in 4 s"
    assert page.locator(WEBRTC_IFRAME).count() == 0
    page.context.close()


WEBRTC_IFRAME = 'iframe[title*="streamlit_webrtc"]'


@pytest.mark.timeout(150)
def test_three_viewers_share_one_inference_per_frame(webrtc_browser, tmp_path) -> None:
    # a server of its own: pages closed by the other tests would still count as viewers until released
    process, url = start_streamlit(APP_ENV, tmp_path)
    try:
        _three_viewers(url, webrtc_browser)
    finally:
        process.terminate()
        process.wait(timeout=20)


def _three_viewers(live_url: str, webrtc_browser) -> None:
    small = {"width": 1100, "height": 900}
    viewers = [open_live(webrtc_browser, live_url, viewport=small) for _ in range(3)]
    time.sleep(4.0)
    page = viewers[0][0]
    page.get_by_text(re.compile(r"^viewers$")).first.wait_for()
    viewers_metric = page.locator('[data-testid="stMetric"]', has_text="viewers").first.inner_text()
    counters = _counters(page)
    screenshot(page, "live_page_three_viewers")
    assert viewers_metric.split()[-1] == "3"
    # every frame is decoded once and either detected once or skipped (newest frame wins), never once per viewer
    assert counters["inferences"] + counters["skipped"] <= counters["frames in"] <= (
        counters["inferences"] + counters["skipped"] + 2)
    assert counters["inferences"] <= counters["frames in"]
    shown = [probe(video)["frames"] for _, video in viewers]
    assert all(count > 5 for count in shown), shown
    for viewer_page, _ in viewers:
        viewer_page.context.close()


@pytest.mark.timeout(120)
def test_no_signal_when_the_sender_stops_and_recovery_when_it_restarts(live_url, webrtc_browser) -> None:
    port = free_port()
    command = [sys.executable, "-m", "core", "send", "--port", str(port), "--duration", "60"]
    sender = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page, video = open_live(webrtc_browser, live_url, rtp_port=port)
        page.get_by_test_id("stAlertContentSuccess").get_by_text("Live").wait_for(timeout=20_000)
        sender.terminate()
        sender.wait(timeout=10)
        stopped = time.monotonic()
        page.get_by_text(re.compile("No signal")).wait_for(timeout=5_000)
        no_signal_after = time.monotonic() - stopped
        screenshot(page, "live_page_no_signal")
        frames_before = probe(video)["frames"]
        sender = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        page.get_by_test_id("stAlertContentSuccess").get_by_text("Live").wait_for(timeout=20_000)
        # the same video element plays again (no reload): 20 more frames within 10 s
        video.wait_for_function("n => window.liveProbe.frames > n", arg=frames_before + 20, timeout=10_000)
        assert no_signal_after <= 2.0, f"'No signal' after {no_signal_after:.1f} s"
    finally:
        sender.kill()
        sender.wait(timeout=10)
