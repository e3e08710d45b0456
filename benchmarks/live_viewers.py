"""Benchmark: the Live page in headless chromium over WebRTC, fed by an RTP H.265 stream of the demo scene.

    python -m benchmarks.live_viewers [--seconds 10] [--viewers 5]   (writes benchmarks/results/live_viewers-*.json)

Measures the app's CPU (its process's CPU time over wall time, 100 % = one core) with 1 and with N pages watching,
the frames each page shows (requestVideoFrameCallback) and, from WebRTC statistics, receives and decodes, and the
glass-to-browser latency: this process draws and sends each demo frame with its number stamped in blocks,
remembers when, and the page reads the number back from every shown video frame (canvas pixels) and notes the
time; both clocks are this machine's wall clock. Speed goals (frames per second shown) live here, not in the tests.

The helpers below (chromium flags, opening the Live page, the in-page frame probe, WebRTC frame counters) are
shared with the browser tests.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from core.config import load_settings
from core.stream.configured import StreamEntry, save_streams
from tests.browser.conftest import CHROMIUM, free_port, screenshot, start_streamlit

RTP_STREAM = "Benchmark RTP"  # the benchmark's one configured stream

CHROMIUM_WEBRTC_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                        "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
                        "--disable-features=WebRtcHideLocalIpsWithMdns", "--disable-background-networking",
                        "--autoplay-policy=no-user-gesture-required"]
APP_ENV = {"EDS_WEBRTC_HOST_ADDRESSES": "127.0.0.1"}  # a browser on the same machine reaches the app on loopback
WEBRTC_FRAME = 'iframe[title*="streamlit_webrtc"]'

# Installed in the WebRTC iframe: counts shown frames and, for each, reads the demo stamp's 16 blocks. It follows
# the iframe's current <video> element (the component may replace it) and survives a frame it cannot read.
FRAME_PROBE_JS = """() => {
  let video = null;
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d', {willReadFrequently: true});
  window.liveProbe = {frames: 0, samples: []};
  const readCounter = () => {
    const width = video.videoWidth, height = video.videoHeight;
    if (canvas.width !== width) { canvas.width = width; canvas.height = height; }
    context.drawImage(video, 0, 0);
    const top = height - 16, data = context.getImageData(0, top + 2, 132, 4).data;
    let value = 0;
    for (let bit = 0; bit < 16; bit++) {
      let sum = 0, count = 0;
      for (let row = 0; row < 4; row++) for (let x = 4 + bit * 8; x < 8 + bit * 8; x++) {
        const i = (row * 132 + x) * 4; sum += data[i] + data[i + 1] + data[i + 2]; count += 3;
      }
      if (sum / count > 128) value |= 1 << bit;
    }
    return value;
  };
  const onFrame = element => () => {
    if (element !== video) return;  // a replaced element's last callback
    element.requestVideoFrameCallback(onFrame(element));
    const now = Date.now();
    window.liveProbe.frames += 1;
    let counter = null;
    try { counter = readCounter(); } catch (error) { /* a picture not drawable yet: counted, not read */ }
    if (window.liveProbe.samples.length < 20000) window.liveProbe.samples.push([now, counter]);
  };
  const follow = () => {
    const current = document.querySelector('video');
    if (current && current !== video) { video = current; video.requestVideoFrameCallback(onFrame(video)); }
  };
  follow();
  setInterval(follow, 250);
}"""


# Installed in every frame before its scripts run: remembers each RTCPeerConnection, so its statistics can be read.
PEER_RECORDER_JS = """(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.livePeers) return;
  window.livePeers = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.livePeers.push(this); }
  };
})();"""

# Frames of the received video track(s): delivered by the server (framesReceived) and decoded by the browser.
PEER_COUNTS_JS = """async () => {
  let received = 0, decoded = 0;
  for (const peer of window.livePeers || []) {
    (await peer.getStats()).forEach(report => {
      if (report.type === 'inbound-rtp' && report.kind === 'video') {
        received += report.framesReceived || 0; decoded += report.framesDecoded || 0;
      }
    });
  }
  return {received, decoded};
}"""


def configure_streams(data_root: Path, entries: list[StreamEntry], rtp_ports: tuple[int, ...]) -> dict[str, str]:
    """A streams file in `data_root` configuring `entries`; the server's settings (data root, its RTP ports)."""
    env = {"EDS_DATA_ROOT": str(data_root), "EDS_RTP_PORTS": ",".join(map(str, rtp_ports))}
    save_streams(load_settings(env), entries)
    return env


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the Live page's select box labelled `label`."""
    page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).click()
    page.get_by_role("option", name=option, exact=True).click()


def choose_stream(page, name: str) -> None:
    choose(page, "Stream", name)


VIDEO_PLAYING_JS = ("() => { const v = document.querySelector('video');"
                    " return !!v && v.videoWidth > 0 && v.currentTime > 0; }")


def playing_video(page, timeout_ms: int = 60_000):
    """The WebRTC iframe once its video plays (nobody clicks START: the page starts it), with the frame probe.

    The iframes are looked up afresh on every try: while the page is still laying itself out, Streamlit may replace
    the component's iframe, and a handle taken too early would wait on a detached frame forever."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        for element in page.locator(WEBRTC_FRAME).element_handles():
            try:
                frame = element.content_frame()
                if frame is not None and frame.evaluate(VIDEO_PLAYING_JS):
                    frame.evaluate(FRAME_PROBE_JS)
                    return frame
            except PlaywrightError:
                continue  # replaced while we looked at it
        time.sleep(0.25)
    screenshot(page, "live_page_video_not_playing")  # what the page showed instead, for the failure report
    raise AssertionError(f"no WebRTC video played on the Live page within {timeout_ms / 1000:g} s")


def open_live(browser, url: str, *, stream: str | None = None, viewport: dict | None = None, requests=None):
    """A new page on the Live page (the stream `stream`, else the first: the demo stream) with its video playing;
    every URL the page requests is appended to `requests` when given."""
    context = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000})
    context.add_init_script(PEER_RECORDER_JS)
    page = context.new_page()
    if requests is not None:
        page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{url}/live", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Live").wait_for(timeout=60_000)
    if stream is not None:
        choose_stream(page, stream)
    return page, playing_video(page)


def probe(frame) -> dict:
    return frame.evaluate("() => ({frames: window.liveProbe.frames, samples: window.liveProbe.samples})")


def webrtc_frames(frame) -> dict[str, int]:
    """Video frames the WebRTC iframe `frame` has received from the server and decoded so far (its RTP stats)."""
    return frame.evaluate(PEER_COUNTS_JS)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DemoSender:
    """Sends the demo scene as RTP H.265 at `fps` from a thread and remembers each frame's send time by number."""

    def __init__(self, port: int, fps: float = 30.0) -> None:
        self.port, self.fps = port, fps
        self.sent_at: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from core.stream.demo import COUNTER_BITS, draw_demo_frame
        from core.stream.rtp_sender import RtpSender

        sender = RtpSender("127.0.0.1", self.port, "h265", fps=self.fps)
        started = time.monotonic()
        index = 0
        while not self._stop.wait(max(started + index / self.fps - time.monotonic(), 0.0)):
            now = time.time()
            image, _ = draw_demo_frame(index, fps=self.fps, wall_time=now)
            self.sent_at[index % (1 << COUNTER_BITS)] = now
            sender.send(image)
            index += 1
        sender.close()

    def __enter__(self) -> DemoSender:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure(pid: int, frames: list, seconds: float) -> dict:
    """App CPU and frames shown per page over `seconds`; latency samples from every page's probe."""
    before = [probe(frame)["frames"] for frame in frames]
    received_before = [webrtc_frames(frame)["received"] for frame in frames]
    cpu, wall = process_cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    cpu, wall = process_cpu_seconds(pid) - cpu, time.monotonic() - wall
    after = [probe(frame) for frame in frames]
    received = [webrtc_frames(frame)["received"] - b for frame, b in zip(frames, received_before)]
    return {"viewers": len(frames), "seconds": round(wall, 2), "app_cpu_percent": round(100 * cpu / wall, 1),
            "fps_shown": [round((a["frames"] - b) / wall, 1) for a, b in zip(after, before)],
            "fps_received": [round(count / wall, 1) for count in received],
            "samples": [a["samples"] for a in after]}


def latency_ms(samples: list[list[list[float]]], sent_at: dict[int, float]) -> dict:
    values = [shown - sent_at[counter] * 1000.0 for page in samples for shown, counter in page if counter in sent_at]
    values = [v for v in values if 0 <= v < 10_000]  # a misread stamp maps to a far-off frame
    if not values:
        return {"count": 0}
    return {"count": len(values), "p50": round(statistics.median(values), 1),
            "p95": round(_percentile(values, 0.95), 1), "min": round(min(values), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--viewers", type=int, default=5)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from benchmarks.common import save_results

    port = free_port()
    with tempfile.TemporaryDirectory() as data, DemoSender(port) as sender, sync_playwright() as playwright:
        streams = [StreamEntry(RTP_STREAM, f"rtp://127.0.0.1:{port}?codec=h265")]
        process, url = start_streamlit({**APP_ENV, **configure_streams(Path(data), streams, (port,))}, Path(data))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_WEBRTC_ARGS)
        try:
            small = {"width": 1000, "height": 900}
            frames = [open_live(browser, url, stream=RTP_STREAM, viewport=small)[1]]
            time.sleep(3)
            rows = [measure(process.pid, frames, args.seconds)]
            frames += [open_live(browser, url, stream=RTP_STREAM, viewport=small)[1]
                       for _ in range(args.viewers - 1)]
            time.sleep(3)
            rows.append(measure(process.pid, frames, args.seconds))
        finally:
            browser.close()
            process.terminate()
            process.wait(timeout=20)
    for row in rows:
        row["glass_to_browser_ms"] = latency_ms(row.pop("samples"), sender.sent_at)
        print(f"{row['viewers']} viewer(s): app CPU {row['app_cpu_percent']} % of one core, fps received "
              f"{row['fps_received']}, fps shown {row['fps_shown']}, glass-to-browser {row['glass_to_browser_ms']}")
    path = save_results("live_viewers", {"source": "RTP H.265 640x480@30 demo scene (this process)",
                                         "transport": "WebRTC (streamlit-webrtc/aiortc, VP8)", "rows": rows})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
