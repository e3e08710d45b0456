"""The Live page in headless chromium: WebRTC video that starts without a click, the demo stream with detections,
the compatibility view, an offer or "playing" lost on the way and sent again, three viewers sharing one pipeline,
viewers with their own filters drawing their own boxes over one shared encoding, a late viewer's keyframe on
joining, a silent port explained in place with the sender command, the video as wide as the page with a fullscreen
button, "no signal" when the RTP sender stops and recovery when it restarts, switching source while playing, an
H.265 stream on a stream configured as H.264, an RTSP camera (a real RTSP server on 127.0.0.1) configured as a
stream, nothing fetched from outside the app, README command 1 leaving udp/5000 free, and the "Triton server" model
choice (a real `core serve` on 127.0.0.1: down at first, then up, then killed).

Every check counts what the product controls (frames the server delivered to a page's track, frames the browser
decoded and showed, pipeline counters) and waits for it with a generous bound, never a rate of this machine's
wall clock: the suite must pass on a loaded 2-core machine. The issue's two bounds (the new source within 2 s of
a switch, an H.265 stream on an H.264 setting within 3 s) are measured from the moment the page acknowledged the
change (its health panel names the new source). Speed figures are measured by benchmarks/live_viewers.py.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from benchmarks.live_viewers import (
    APP_ENV,
    CHROMIUM_WEBRTC_ARGS,
    LIVE_VIDEO,
    choose,
    choose_stream,
    configure_streams,
    open_live,
    page_report,
    playing_video,
    probe,
    set_threshold,
    video_sharing,
    video_state,
    webrtc_frames,
)
from core.config import DEFAULT_TRITON_URL, DEMO_DIR, REPO_ROOT
from core.model import read_labels
from core.serve.process import ServeProcess
from core.stream.configured import StreamEntry
from dashboard.components.text import plain
from tests.browser.conftest import CHROMIUM, close_pages, free_port, screenshot, start_streamlit
from tests.integration.rtsp_helpers import RtspServer
from tests.polling import wait_until

pytestmark = [pytest.mark.browser]

MIN_FRAMES_DELIVERED = 30  # about 1 s of the demo stream; a loaded machine still delivers it well within the bound
# a hang guard for a test that opens the Live page: beyond the page's own bounds (60 s for the page, 120 s for its
# video), so that a page that does not play is reported with what it shows
PAGE_TEST_LIMIT_S = 240
SWITCH_BOUND_S = 2.0  # the bound: the new source's frames within 2 s of the switch
WRONG_CODEC_BOUND_S = 3.0  # the bound: an H.265 stream on an H.264 setting plays within 3 s
SMALL_DEMO = "Demo 320x240"
RTP_STREAM = "Loopback RTP"
RTP_AS_H264 = "Loopback RTP set to H.264"
RTSP_STREAM = "Loopback RTSP camera"
VIDEO_WIDTH_JS = "() => { const v = document.querySelector('video'); return v ? v.videoWidth : 0; }"


@pytest.fixture(scope="module")
def rtp_ports() -> tuple[int, int]:
    """Two UDP ports the module's server may bind: one stream configured with codec auto, one set to H.264."""
    return free_port(), free_port()


@pytest.fixture(scope="module")
def rtsp_port() -> int:
    """The TCP port of the module's RTSP camera (a real RTSP server on 127.0.0.1, started by the test using it)."""
    return free_port()


def _configured_streams(rtp_ports: tuple[int, int], rtsp_port: int) -> list[StreamEntry]:
    """The demo streams, two loopback RTP streams (codec auto, and set to H.264) and a loopback RTSP camera."""
    return [StreamEntry("Demo stream", "demo:"), StreamEntry(SMALL_DEMO, "demo:?width=320&height=240&fps=30"),
            StreamEntry(RTP_STREAM, f"rtp://127.0.0.1:{rtp_ports[0]}?codec=auto"),
            StreamEntry(RTP_AS_H264, f"rtp://127.0.0.1:{rtp_ports[1]}?codec=h264"),
            StreamEntry(RTSP_STREAM, f"rtsp://127.0.0.1:{rtsp_port}/cam?transport=tcp")]


@pytest.fixture(scope="module")
def live_url(tmp_path_factory, rtp_ports, rtsp_port):
    data_root = tmp_path_factory.mktemp("data")
    env = configure_streams(data_root, _configured_streams(rtp_ports, rtsp_port), rtp_ports)
    process, url = start_streamlit({**APP_ENV, **env}, data_root,
                                   data_root / "console.log")  # the server's log, to read when a test fails
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def webrtc_chromium(browser):
    """The session's chromium is launched without WebRTC flags; this one (same Playwright) has them, but keeps
    chromium's default autoplay policy (muted video may play without a click), as a user's browser has it."""
    arguments = [argument for argument in CHROMIUM_WEBRTC_ARGS if not argument.startswith("--autoplay-policy")]
    instance = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=arguments)
    yield instance
    instance.close()


@pytest.fixture
def webrtc_browser(webrtc_chromium):
    """The WebRTC chromium for one test, whose pages are closed when the test ends, even when it fails."""
    yield webrtc_chromium
    close_pages(webrtc_chromium)


def shown(text: str) -> str:
    """`text` as the page shows a value it escaped with `plain`: the same characters, with an invisible word joiner
    wherever an address could have become a link (dashboard/components/text.py)."""
    return re.sub(r"\\(.)", r"\1", plain(text))


def wait_for_source(page, uri_start: str) -> None:
    """Wait until the page's health panel names the source whose URI starts with `uri_start` (the page acknowledged
    a switch), reporting what the page shows when it does not."""
    try:
        page.get_by_text(re.compile(rf"^source {re.escape(shown(uri_start))}")).wait_for(timeout=60_000)
    except PlaywrightTimeoutError:
        raise AssertionError(f"the page did not name the source {uri_start} within 60 s; "
                             f"{page_report(page, 'live_page_source_not_shown')}") from None


@contextmanager
def own_server(data_root: Path) -> Iterator[str]:
    """A server of a test's own (pages closed by other tests would still count as viewers until released)."""
    process, url = start_streamlit(APP_ENV, data_root)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _counters(page) -> dict[str, int]:
    text = page.get_by_text(re.compile(r"frames in \d+ · inferences")).first.inner_text()
    return {key: int(value) for key, value in re.findall(r"(frames in|inferences|skipped|detector errors) (\d+)", text)}


@pytest.mark.timeout(PAGE_TEST_LIMIT_S)
def test_webrtc_starts_without_a_click_and_shows_the_demo_stream_with_detections(live_url, webrtc_browser) -> None:
    page, video = open_live(webrtc_browser, live_url)
    assert page.get_by_role("button", name="Start").count() == 0
    before, shown_before = webrtc_frames(video), probe(video)["frames"]
    wait_until(lambda: webrtc_frames(video)["received"] - before["received"] >= MIN_FRAMES_DELIVERED, 60,
               f"{MIN_FRAMES_DELIVERED} frames delivered to the page's track")
    after = webrtc_frames(video)
    delivered, decoded = after["received"] - before["received"], after["decoded"] - before["decoded"]
    table = page.locator('[data-testid="stTable"]').first
    wait_until(lambda: "circle" in table.inner_text() and "star" in table.inner_text(), 30,
               "circle and star in the detections table")
    page.get_by_text(re.compile(r"thread errors 0 · restarts 0")).first.wait_for(timeout=10_000)  # supervision
    screenshot(page, "live_page_webrtc")
    assert decoded >= delivered / 2, f"the browser decoded {decoded} of {delivered} frames delivered"
    # the frame number stamped in the picture advances in the shown video (however slowly a loaded machine shows it)
    def stamps_shown() -> int:
        return len({counter for _, counter in probe(video)["samples"][shown_before:] if counter is not None})

    wait_until(lambda: stamps_shown() >= 10, 60, "10 different stamped frame numbers shown")
    page.context.close()


@pytest.mark.timeout(PAGE_TEST_LIMIT_S)
@pytest.mark.parametrize("lost", [b'"offer"', b'"playing"'])
def test_a_state_change_the_server_never_got_is_sent_again(live_url, webrtc_browser, lost: bytes) -> None:
    """The browser's first message carrying its WebRTC offer, or that its video plays, is dropped on the way (as
    Streamlit may lose a state change): the element sends it again until the server acknowledges it, and the video
    plays on, never replaced by the compatibility view (which a lost offer, or a lost "playing", brought after 25 s).
    How many times it was sent again is not asserted: a panel's refresh carries every widget's state too, and on a
    loaded machine one may carry it to the server before the element's own resend is due."""
    dropped = []

    def drop_first(socket) -> None:
        server = socket.connect_to_server()

        def from_page(message) -> None:
            if not dropped and isinstance(message, bytes) and lost in message:
                dropped.append(len(message))
                return
            server.send(message)

        socket.on_message(from_page)

    context = webrtc_browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route_web_socket(re.compile(r"/_stcore/stream$"), drop_first)
    page = context.new_page()
    page.goto(f"{live_url}/live", wait_until="domcontentloaded")
    playing_video(page)
    wait_until(lambda: video_state(page)["playingAcknowledged"], 60, "the server acknowledging the video plays")
    assert dropped, f"no message with {lost} went out"
    assert page.get_by_text("showing the compatibility view").count() == 0
    context.close()


@pytest.mark.timeout(PAGE_TEST_LIMIT_S)
def test_switching_source_while_playing_shows_the_new_source(live_url, webrtc_browser) -> None:
    page, video = open_live(webrtc_browser, live_url)
    wait_until(lambda: video.evaluate(VIDEO_WIDTH_JS) == 640, 60, "the demo stream (640 wide) playing")
    timings = []
    for name, uri, width in ((SMALL_DEMO, "demo:?width=320", 320), ("Demo stream", "demo: ·", 640)):
        chosen = time.monotonic()
        choose_stream(page, name)
        wait_for_source(page, uri)
        acknowledged = time.monotonic()
        wait_until(lambda: video.evaluate(VIDEO_WIDTH_JS) == width, 30, f"{name}'s frames in the video")
        shown = time.monotonic()
        frames = probe(video)["frames"]
        wait_until(lambda: probe(video)["frames"] >= frames + 10, 30, f"{name} playing on")  # not frozen
        timings.append((name, round(acknowledged - chosen, 2), round(shown - acknowledged, 2)))
    # the model too (the backend here: the same weights on torch): swapped in the running pipeline, video goes on
    chosen = time.monotonic()
    choose(page, "Backend", "torch")
    page.get_by_text(re.compile(r"model \S+ \(torch\)")).wait_for(timeout=60_000)
    acknowledged = time.monotonic()
    frames = probe(video)["frames"]
    wait_until(lambda: probe(video)["frames"] > frames, 30, "a frame shown after the model swap")
    timings.append(("torch backend", round(acknowledged - chosen, 2), round(time.monotonic() - acknowledged, 2)))
    wait_until(lambda: probe(video)["frames"] >= frames + 10, 30, "the video playing on with the other model")
    print("switch: (stream, chosen -> page acknowledged s, acknowledged -> new frames shown s):", timings)
    screenshot(page, "live_page_switched")
    assert page.get_by_text(re.compile("NO SIGNAL|No signal")).count() == 0
    for name, _, seconds in timings:
        assert seconds <= SWITCH_BOUND_S, f"{name}: new frames {seconds} s after the page acknowledged the switch"
    page.context.close()


@pytest.mark.timeout(PAGE_TEST_LIMIT_S)
def test_an_rtsp_camera_configured_as_a_stream_plays(live_url, rtsp_port, webrtc_browser) -> None:
    camera = RtspServer(rtsp_port, "h264").start()  # 320x240 at 15 fps
    try:
        page, video = open_live(webrtc_browser, live_url, stream=RTSP_STREAM)
        wait_for_source(page, f"rtsp://127.0.0.1:{rtsp_port}/cam")
        wait_until(lambda: video.evaluate(VIDEO_WIDTH_JS) == 320, 30, "the camera's frames (320 wide) in the video")
        delivered, shown, frames_in = webrtc_frames(video)["received"], probe(video)["frames"], _counters(page)
        wait_until(lambda: webrtc_frames(video)["received"] >= delivered + 30, 60, "30 more frames delivered")
        wait_until(lambda: probe(video)["frames"] >= shown + 10, 30, "10 more frames shown")
        wait_until(lambda: _counters(page)["frames in"] >= frames_in["frames in"] + 10, 30,
                   "the pipeline's frames-in counter advancing by 10")
        page.get_by_test_id("stAlertContentSuccess").get_by_text("Live").wait_for(timeout=10_000)
        screenshot(page, "live_page_rtsp")
        page.context.close()
    finally:
        camera.kill()


def _start_sender(port: int, codec: str, *, width: int = 480, height: int = 360) -> subprocess.Popen:
    """A sender that outlasts the test that starts it (which stops it), however slowly the page opens."""
    return subprocess.Popen([sys.executable, "-m", "core", "send", "--port", str(port), "--codec", codec,
                             "--width", str(width), "--height", str(height), "--duration", str(PAGE_TEST_LIMIT_S)],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.timeout(PAGE_TEST_LIMIT_S)
def test_an_h265_stream_on_a_stream_set_to_h264_plays(live_url, rtp_ports, webrtc_browser) -> None:
    sender = _start_sender(rtp_ports[1], "h265")
    try:
        page, video = open_live(webrtc_browser, live_url)
        chosen = time.monotonic()
        choose_stream(page, RTP_AS_H264)
        wait_for_source(page, f"rtp://127.0.0.1:{rtp_ports[1]}")
        acknowledged = time.monotonic()
        wait_until(lambda: video.evaluate(VIDEO_WIDTH_JS) == 480, 30, "the H.265 stream's frames in the video")
        shown = time.monotonic()
        page.get_by_text(re.compile(r"codec h265 \(from the stream\)")).wait_for(timeout=10_000)
        page.get_by_test_id("stAlertContentSuccess").get_by_text("Live").wait_for(timeout=10_000)
        screenshot(page, "live_page_h265_on_h264")
        print(f"H.265 on an H.264 setting: chosen -> acknowledged {acknowledged - chosen:.2f} s, "
              f"acknowledged -> frames shown {shown - acknowledged:.2f} s")
        assert shown - acknowledged <= WRONG_CODEC_BOUND_S
        page.context.close()
    finally:
        sender.kill()
        sender.wait(timeout=10)


@pytest.mark.timeout(PAGE_TEST_LIMIT_S)
def test_packets_that_do_not_decode_are_explained_on_the_page(live_url, rtp_ports, webrtc_browser) -> None:
    garbage = subprocess.Popen([sys.executable, "-c", (
        "import socket, time\n"
        "sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"for number in range({50 * PAGE_TEST_LIMIT_S}):\n"  # 50 a second for as long as the test may run
        "    header = bytes([0x80, 100]) + number.to_bytes(2, 'big') + (number * 3000).to_bytes(4, 'big')\n"
        f"    sock.sendto(header + bytes(4) + bytes(100), ('127.0.0.1', {rtp_ports[0]}))\n"
        "    time.sleep(0.02)\n")])
    try:
        page, _ = open_live(webrtc_browser, live_url, stream=RTP_STREAM)
        try:
            page.get_by_text(re.compile("Packets arrive but nothing decodes: the packets carry RTP payload type 100"))\
                .wait_for(timeout=30_000)
        except PlaywrightTimeoutError:
            raise AssertionError("the page did not explain the packets within 30 s; "
                                 f"{page_report(page, 'live_page_packets_not_explained')}") from None
        screenshot(page, "live_page_not_decoding")
        page.context.close()
    finally:
        garbage.kill()
        garbage.wait(timeout=10)


@pytest.mark.timeout(90)
def test_compatibility_view_refreshes_an_image(live_url, webrtc_browser) -> None:
    page = webrtc_browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{live_url}/live", wait_until="domcontentloaded")
    page.get_by_text("Compatibility view").click(timeout=60_000)
    image = page.locator("img.live-image").first
    image.wait_for(timeout=30_000)
    sources = set()

    def refreshed_five_times() -> bool:
        sources.add(hash(page.locator("img.live-image").first.get_attribute("src")))
        return len(sources) >= 5

    wait_until(refreshed_five_times, 45, "5 different pictures in the compatibility view")
    screenshot(page, "live_page_compatibility")
    assert page.locator(LIVE_VIDEO).count() == 0
    page.context.close()


@pytest.mark.timeout(90)
def test_the_page_fetches_nothing_from_outside_the_app(live_url, webrtc_browser) -> None:
    requests: list[str] = []
    page, video = open_live(webrtc_browser, live_url, requests=requests)
    frames = probe(video)["frames"]
    wait_until(lambda: probe(video)["frames"] >= frames + 10, 30, "the video playing")
    ice_servers = video.evaluate("() => window.livePeers.map(peer => peer.getConfiguration().iceServers)")
    page.context.close()
    outside = [url for url in requests if not url.startswith((live_url, "data:", "blob:"))]
    assert requests and not outside, f"requests outside {live_url}: {outside}"
    assert ice_servers and all(servers == [] for servers in ice_servers)  # no STUN/TURN server is contacted


@pytest.mark.timeout(420)  # a limit: three pages start their video one after another on 2 loaded cores
def test_three_viewers_share_one_inference_per_frame(webrtc_browser, tmp_path) -> None:
    with own_server(tmp_path) as url:
        _three_viewers(url, webrtc_browser)


def _three_viewers(live_url: str, webrtc_browser) -> None:
    small = {"width": 1100, "height": 900}
    viewers = [open_live(webrtc_browser, live_url, viewport=small) for _ in range(3)]
    page = viewers[0][0]
    page.get_by_text(re.compile(r"^viewers$")).first.wait_for()
    viewers_metric = page.locator('[data-testid="stMetric"]', has_text="viewers").first
    wait_until(lambda: viewers_metric.inner_text().split()[-1] == "3", 30, "3 viewers in the health panel")
    for _, video in viewers:
        video.wait_for_function("() => window.liveProbe.frames > 5", timeout=60_000)
    counters = _counters(page)
    screenshot(page, "live_page_three_viewers")
    # every frame is decoded once and either detected once or skipped (newest frame wins), never once per viewer
    assert counters["inferences"] + counters["skipped"] <= counters["frames in"] <= (
        counters["inferences"] + counters["skipped"] + 2)
    assert counters["inferences"] <= counters["frames in"]
    for viewer_page, _ in viewers:
        viewer_page.context.close()


def _choose_classes(page, names: list[str]) -> None:
    box = page.get_by_test_id("stMultiSelect").filter(has_text="Classes (this view")
    for name in names:
        box.click()
        page.get_by_role("option", name=name, exact=True).click()
    page.keyboard.press("Escape")


def _labels_drawn(page) -> set[int]:
    return set(video_state(page).get("labels", []))


@pytest.mark.timeout(240)
def test_viewers_with_their_own_filters_see_their_own_boxes_from_one_encoding(webrtc_browser, tmp_path) -> None:
    with own_server(tmp_path) as url:  # only these pages watch the demo stream
        small = {"width": 1100, "height": 900}
        pages = [open_live(webrtc_browser, url, viewport=small)[0] for _ in range(3)]
        names = read_labels(DEMO_DIR / "labels.txt")  # the model's class ids (alphabetical, not the scene's order)
        circle, star = names.index("circle"), names.index("star")
        _choose_classes(pages[0], ["circle"])
        _choose_classes(pages[1], ["star"])
        for page, wanted in ((pages[0], {circle}), (pages[1], {star})):  # each draws its own class, and only it
            wait_until(lambda: _labels_drawn(page) == wanted, 60, f"only class {wanted} drawn")
        wait_until(lambda: len(_labels_drawn(pages[2])) >= 3, 60, "every class the third viewer keeps drawn")
        seen = {number: set() for number in range(3)}
        for _ in range(20):  # over a second or more of frames, nobody sees another viewer's choice
            for number, page in enumerate(pages):
                seen[number] |= _labels_drawn(page)
            time.sleep(0.1)
        assert seen[0] == {circle} and seen[1] == {star} and len(seen[2]) >= 3
        # one encoding for all three: every encoded frame is a processed result, sent to more than one viewer
        # inferences are read no later than the encodes at the start and no earlier at the end (the panel reads the
        # pipeline's counters before the encoder's, and may refresh between two reads), so every encode counted
        # comes from an inference counted
        counters_before = _counters(pages[0])
        before = video_sharing(pages[0])
        wait_until(lambda: video_sharing(pages[0])["encoded"] >= before["encoded"] + 30, 60, "30 more frames encoded")
        after = video_sharing(pages[0])
        wait_until(lambda: video_sharing(pages[0]) != after, 30, "the health panel refreshed once more")
        counters = _counters(pages[0])
        encoded, sent = after["encoded"] - before["encoded"], after["sent"] - before["sent"]
        inferences = counters["inferences"] - counters_before["inferences"]
        screenshot(pages[0], "live_page_own_filter_circle")
        screenshot(pages[1], "live_page_own_filter_star")
        print(f"over the window: inferences {inferences}, frames encoded {encoded}, sent {sent} (3 viewers)")
        assert after["viewers"] == 3
        assert encoded <= inferences + 2  # at most one encode per processed frame (the captions are read apart)
        assert sent >= 2 * encoded  # each encoded frame went to several viewers
        for page in pages:
            page.context.close()


@pytest.mark.timeout(PAGE_TEST_LIMIT_S)
def test_the_filter_survives_toggling_to_video_files_and_back(live_url, webrtc_browser) -> None:
    page, _ = open_live(webrtc_browser, live_url)
    set_threshold(page, 0.7)
    _choose_classes(page, ["circle"])
    page.get_by_text("Video file", exact=True).click()
    page.get_by_text(re.compile(r"^No video files")).wait_for(timeout=30_000)  # this data root has none
    page.get_by_text("Stream", exact=True).first.click()
    page.locator(LIVE_VIDEO).wait_for(timeout=30_000)
    slider = page.get_by_test_id("stSlider").filter(has_text="Score threshold")
    slider.get_by_test_id("stSliderThumbValue").get_by_text("0.70", exact=True).wait_for(timeout=30_000)
    assert "circle" in page.get_by_test_id("stMultiSelect").filter(has_text="Classes (this view").inner_text()
    page.context.close()


FIRST_PICTURE_BOUND_S = 5.0  # generous: the goal is 1 s (a keyframe asked for on joining), on a loaded machine


@pytest.mark.timeout(180)
def test_a_viewer_joining_late_gets_a_keyframe_at_once(webrtc_browser, tmp_path) -> None:
    with own_server(tmp_path) as url:
        first, _ = open_live(webrtc_browser, url)
        wait_until(lambda: probe(first)["frames"] >= 30, 60, "the first viewer watching for a while")
        asked = video_sharing(first)["keyframes_asked"]
        late, _ = open_live(webrtc_browser, url)
        wait_until(lambda: "firstFrameMs" in video_state(late), 30, "the late viewer's first frame")
        first_frame_s = video_state(late)["firstFrameMs"] / 1000
        wait_until(lambda: video_sharing(first)["keyframes_asked"] >= asked + 1, 15, "a keyframe asked for the joiner")
        print(f"late viewer: first frame {first_frame_s:.2f} s after its connection was up")
        assert first_frame_s <= FIRST_PICTURE_BOUND_S
        first.context.close()
        late.context.close()


@pytest.mark.timeout(PAGE_TEST_LIMIT_S)
@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 1024, "height": 768}],
                         ids=["1440x900", "1024x768"])
def test_a_silent_port_says_why_nothing_arrives_with_the_sender_command(live_url, rtp_ports, webrtc_browser,
                                                                        viewport) -> None:
    page, _ = open_live(webrtc_browser, live_url, stream=RTP_STREAM, viewport=viewport)  # nobody sends to it
    try:
        page.get_by_text(f"Nothing arriving on udp/{rtp_ports[0]}").wait_for(timeout=30_000)
    except PlaywrightTimeoutError:
        raise AssertionError("the page did not say that nothing arrives within 30 s; "
                             f"{page_report(page, 'live_page_silent_port_not_said')}") from None
    page.get_by_text("Likely causes").first.wait_for()
    for metric in ("fps in", "fps shown"):  # not a rate over a placeholder
        tile = page.locator('[data-testid="stMetric"]', has_text=metric).first
        wait_until(lambda: tile.inner_text().endswith("no signal"), 15, f"{metric} says no signal")
    # the panel is redrawn every second: a click can land on the expander a redraw is replacing (a redraw may
    # show two), so click the newest one until its command is shown
    expander = page.get_by_text(f"Sender command for the Jetson (to udp/{rtp_ports[0]}")
    command = page.locator("code", has_text="gst-launch-1.0").filter(visible=True).first

    def command_shown() -> bool:
        if command.is_visible():
            return True
        expander.last.click()
        try:
            command.wait_for(timeout=5_000)  # opening takes a moment: not clicked again (closed) meanwhile
        except PlaywrightTimeoutError:
            return False
        return True

    wait_until(command_shown, 30, "the sender command shown after a click on its expander")
    assert f"port={rtp_ports[0]}" in command.inner_text()
    wait_until(lambda: video_state(page)["signal"] == "waiting", 15,  # the video says so too ("WAITING FOR STREAM")
               "the video saying it waits for the stream")
    screenshot(page, f"live_page_silent_port_{viewport['width']}")
    page.context.close()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 1024, "height": 768}],
                         ids=["1440x900", "1024x768"])
def test_a_backend_switch_names_what_runs_until_the_new_one_does(webrtc_browser, tmp_path, viewport) -> None:
    with own_server(tmp_path) as url:  # the demo stream starts with this page's model, not another test's
        page, _ = open_live(webrtc_browser, url, viewport=viewport)
        page.get_by_text(re.compile(r"model \S+ \(onnxruntime\)")).wait_for(timeout=60_000)
        choose(page, "Backend", "torch")
        switching = page.get_by_text(re.compile(r"^Switching to \S+ \(torch\): loading it; the video goes on with "
                                                r"\S+ \(onnxruntime\) meanwhile"))
        torch_runs = page.get_by_text(re.compile(r"model \S+ \(torch\)"))
        wait_until(lambda: switching.count() + torch_runs.count() > 0, 30, "the switch said, or done")
        screenshot(page, f"live_page_backend_switch_{viewport['width']}")
        torch_runs.wait_for(timeout=60_000)
        wait_until(lambda: switching.count() == 0, 30, "the switching note gone once torch runs")
        # a second viewer, whose page asks for onnxruntime, joins the stream that runs torch: the page says so
        joined, _ = open_live(webrtc_browser, url, viewport=viewport)
        joined.get_by_text(re.compile(r"^This stream runs \S+ \(torch\), chosen by another viewer, not \S+ "
                                      r"\(onnxruntime\)")).wait_for(timeout=60_000)
        screenshot(joined, f"live_page_joined_another_model_{viewport['width']}")
        joined.context.close()
        page.context.close()


@pytest.mark.timeout(PAGE_TEST_LIMIT_S)
def test_the_video_uses_the_page_width_and_goes_fullscreen(live_url, webrtc_browser) -> None:
    page, _ = open_live(webrtc_browser, live_url, viewport={"width": 1440, "height": 900})
    widths = page.evaluate("() => [document.querySelector('.eds-live video').clientWidth,"
                           " document.querySelector('[data-testid=stMainBlockContainer]').clientWidth]")
    assert widths[0] >= 0.9 * widths[1] - 64 and widths[0] > 800, f"video {widths[0]} px in a {widths[1]} px page"
    page.get_by_role("button", name="Fullscreen").click()
    page.wait_for_function("() => document.fullscreenElement?.classList.contains('eds-live')", timeout=10_000)
    page.keyboard.press("Escape")
    page.context.close()


@pytest.mark.timeout(PAGE_TEST_LIMIT_S)
def test_no_signal_when_the_sender_stops_and_recovery_when_it_restarts(live_url, rtp_ports, webrtc_browser) -> None:
    command = [sys.executable, "-m", "core", "send", "--port", str(rtp_ports[0]), "--duration",
               str(PAGE_TEST_LIMIT_S)]  # outlasts the test, which stops it
    sender = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page, video = open_live(webrtc_browser, live_url, stream=RTP_STREAM)
        page.get_by_test_id("stAlertContentSuccess").get_by_text("Live").wait_for(timeout=30_000)
        sender.terminate()
        sender.wait(timeout=10)
        # the source declares "no signal" after NO_SIGNAL_AFTER_S of silence; the panel shows it on its next refresh
        page.get_by_text(re.compile("No signal")).wait_for(timeout=15_000)
        screenshot(page, "live_page_no_signal")
        frames_before = probe(video)["frames"]
        sender = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        page.get_by_test_id("stAlertContentSuccess").get_by_text("Live").wait_for(timeout=30_000)
        # the same video element plays again (no reload): 20 more frames shown
        video.wait_for_function("n => window.liveProbe.frames > n", arg=frames_before + 20, timeout=30_000)
    finally:
        sender.kill()
        sender.wait(timeout=10)


@pytest.mark.timeout(480)  # a limit: tritonserver and its model instances start slowly on a loaded machine
def test_the_triton_server_choice_starts_when_the_server_comes_up_and_says_when_it_goes(live_url,
                                                                                      webrtc_browser) -> None:
    # the demo weights behind a real server on free ports of 127.0.0.1, in whichever input mode `core serve` defaults
    # to; it is not started yet, so the page first meets a port where nothing listens
    server = ServeProcess(DEMO_DIR / "mb1-ssd-demo-fp16.pth", DEMO_DIR / "labels.txt",
                          options=("--backend", "onnxruntime", "--device", "cpu"))
    detector = re.compile(rf"model {re.escape(shown(f'ssd@127.0.0.1:{server.grpc_port}'))} \(triton\)")
    try:
        page, video = open_live(webrtc_browser, live_url)
        choose(page, "Backend", "Triton server")
        address = page.get_by_role("textbox", name="Server (grpc://HOST:PORT)")
        # the fields appear with their defaults once the page has rerun for the new backend (EDS_TRITON_URL's default)
        wait_until(lambda: address.input_value() == DEFAULT_TRITON_URL, 15, "the server field's default address")
        wait_until(lambda: page.get_by_role("textbox", name="Model name").input_value() == "ssd", 15,
                   "the model name field's default")
        address.fill(server.url)
        address.press("Enter")
        page.get_by_text(shown(f"inference server unreachable at {server.url}")).first.wait_for(timeout=30_000)
        frames = probe(video)["frames"]
        wait_until(lambda: probe(video)["frames"] >= frames + 10, 30, "the stream playing on with the model it had")
        screenshot(page, "live_page_triton_down")
        assert page.get_by_text(detector).count() == 0

        server.start()  # the page asks again by itself (every few seconds) and takes the server's model
        page.get_by_text(detector).wait_for(timeout=60_000)
        before, frames = _counters(page), probe(video)["frames"]
        wait_until(lambda: _counters(page)["inferences"] >= before["inferences"] + 20, 60,
                   "20 more frames processed by triton")
        wait_until(lambda: probe(video)["frames"] >= frames + 10, 30, "the video playing with the server's model")
        assert _counters(page)["detector errors"] == before["detector errors"]  # every one of them detected
        assert page.get_by_text(re.compile("inference server unreachable|^Detector: ")).count() == 0
        screenshot(page, "live_page_triton")

        server.kill()  # a server that dies while it serves: said within seconds, the video goes on unannotated
        page.get_by_text(re.compile(rf"^Detector: inference server unreachable at {re.escape(shown(server.url))}"))\
            .wait_for(timeout=15_000)
        frames = probe(video)["frames"]
        wait_until(lambda: probe(video)["frames"] >= frames + 10, 30, "the video playing on without the server")
        screenshot(page, "live_page_triton_killed")
        address.fill("127.0.0.1:8001")  # not an address: said at once, nothing is asked of a server
        address.press("Enter")
        page.get_by_text(shown("triton url must be grpc://HOST:PORT with a port of 1..65535, got '127.0.0.1:8001'"))\
            .wait_for(timeout=30_000)
        page.context.close()
    finally:
        server.stop()


def _udp_ports_of_process_group(pgid: int) -> set[int]:
    """The UDP ports bound by any process of the process group `pgid` (from /proc: its sockets' inodes)."""
    inodes: set[str] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for descriptor in (entry / "fd").iterdir():
                target = os.readlink(descriptor)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (OSError, ProcessLookupError):
            continue
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _demo_process_group(url: str) -> int:
    """The process group of the server answering `url` (README command 1 runs in a session of its own)."""
    port = int(url.rsplit(":", 1)[1])
    listening = {line.split()[9] for table in ("/proc/net/tcp", "/proc/net/tcp6")
                 for line in Path(table).read_text().splitlines()[1:]
                 if int(line.split()[1].rsplit(":", 1)[1], 16) == port and line.split()[3] == "0A"}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if any(os.readlink(fd) in {f"socket:[{inode}]" for inode in listening}
                       for fd in (entry / "fd").iterdir()):
                    return os.getpgid(int(entry.name))
            except (OSError, ProcessLookupError):
                continue
    raise AssertionError(f"no process listens on TCP port {port}")


@pytest.mark.timeout(300)
def test_readme_command_1_leaves_udp_5000_free(demo_server) -> None:
    group = _demo_process_group(demo_server.url)
    time.sleep(3)  # a sender started next to the dashboard would have bound its socket by now
    assert 5000 not in _udp_ports_of_process_group(group)
    assert _udp_ports_of_process_group(group) == set()  # no UDP port at all while nobody watches
    script = (REPO_ROOT / "scripts" / "demo.sh").read_text()
    assert "EDS_DEMO_RTP_PORT" in script and "--port 5000" not in script and "5000}" not in script
