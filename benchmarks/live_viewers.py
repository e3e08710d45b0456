"""Benchmark: the Live page in headless chromium over WebRTC, fed by an RTP H.265 stream of the demo scene.

    python -m benchmarks.live_viewers [--seconds 10] [--viewers 5] [--thresholds 0.3,0.4,0.5,0.6,0.7]
    (writes benchmarks/results/live_viewers-*.json and records a `benchmark` run)

Three phases on one app: 1 page watching, N pages with the same filter, and the same N pages each with its own
score threshold. Measures the app's CPU (its process's CPU time over wall time, 100 % = one core) and the
browsers' (every chromium process), the frames each page shows (requestVideoFrameCallback) and, from WebRTC
statistics, receives; the video's sharing counters as the health panel prints them (frames encoded once, frames sent
to all viewers); and the glass-to-browser latency: this process draws and sends each demo frame with its number
stamped in blocks, remembers when, and the first page reads the number back from every shown video frame (canvas
pixels: a software copy of each frame, which the other pages are spared) and notes the time; both clocks are this
machine's wall clock. The 1-minute load average is recorded with each phase: on a shared machine it says how much the figures
mean. Speed goals (frames per second shown) live here, not in the tests.

The helpers below (chromium flags, opening the Live page, the in-page frame probe, WebRTC frame counters, the live
video element's own counters) are shared with the browser tests.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.browser import CHROMIUM, free_port, screenshot, start_streamlit
from benchmarks.common import RESULTS_DIR
from core.config import load_settings
from core.stream.configured import StreamEntry, save_streams

RTP_STREAM = "Benchmark RTP"  # the benchmark's one configured stream

CHROMIUM_WEBRTC_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                        "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
                        "--disable-features=WebRtcHideLocalIpsWithMdns", "--disable-background-networking",
                        "--autoplay-policy=no-user-gesture-required"]
APP_ENV = {"EDS_WEBRTC_HOST_ADDRESSES": "127.0.0.1"}  # a browser on the same machine reaches the app on loopback
LIVE_VIDEO = ".eds-live"  # the live video element (dashboard/components/live_video.js)

# Installed in the page: for each <video> element (by its position on the page; the component may replace an
# element, and the probe follows it), counts the frames shown and, where `readStamps`, reads each one's demo stamp
# (16 blocks) back from canvas pixels; it survives a frame it cannot read. `window.liveProbe` is the first video's.
# Reading pixels costs the page a software drawImage of every frame, so the benchmark reads stamps on one page only.
FRAME_PROBE_JS = """readStamps => {
  if (window.liveProbes) return;
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d', {willReadFrequently: true});
  window.liveProbes = [];
  const readCounter = video => {
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
  const onFrame = (probe, element) => () => {
    if (element !== probe.video) return;  // a replaced element's last callback
    element.requestVideoFrameCallback(onFrame(probe, element));
    const now = Date.now();
    probe.frames += 1;
    if (!readStamps) return;
    let counter = null;
    try { counter = readCounter(element); } catch (error) { /* a picture not drawable yet: counted, not read */ }
    if (probe.samples.length < 20000) probe.samples.push([now, counter]);
  };
  const follow = () => {
    document.querySelectorAll('video').forEach((current, index) => {
      const probe = window.liveProbes[index] || (window.liveProbes[index] = {frames: 0, samples: [], video: null});
      if (current === probe.video) return;
      probe.video = current;
      current.requestVideoFrameCallback(onFrame(probe, current));
    });
    window.liveProbe = window.liveProbes[0];
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
# The page's first distinct console errors (Streamlit's frontend reports a broken page tree there, before the
# repeated errors of a page cut off from the server), for failure reports.
ERROR_RECORDER_JS = """(() => {
  if (window.pageErrors) return;
  window.pageErrors = [];
  const original = console.error.bind(console);
  console.error = (...args) => {
    const text = args.map(String).join(' ').slice(0, 300);
    if (window.pageErrors.length < 10 && !window.pageErrors.includes(text)) window.pageErrors.push(text);
    original(...args);
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
# What a page shows, for failure reports: the live video element's counters, the <video> element's state, each
# peer's connection states, the page's messages and health lines, its select boxes' values and console errors.
PAGE_REPORT_JS = """() => ({
  live: [...document.querySelectorAll('.eds-live')].map(element => ({...element.liveVideo})),
  videos: [...document.querySelectorAll('video')].map(v => ({width: v.videoWidth, time: v.currentTime,
    paused: v.paused, ready: v.readyState, source: !!v.srcObject})),
  peers: (window.livePeers || []).map(p => [p.connectionState, p.iceConnectionState, p.signalingState]),
  messages: [...document.querySelectorAll('[data-testid="stAlert"]')].map(a => a.innerText.slice(0, 200)),
  health: document.body.innerText.split('\\n').filter(line => /VP8 encoding|frames in \\d|^source /.test(line)),
  choices: [...document.querySelectorAll('[data-testid="stSelectbox"]')].map(box => box.innerText.replace(/\\n/g, ': ')),
  errors: window.pageErrors || [],
})"""


def playing_video(page, timeout_ms: int = 120_000, *, read_stamps: bool = True):  # a limit: several pages starting
    """The page once its live video plays (nobody clicks START: the page starts it), with the frame probe
    installed (reading each frame's stamp where `read_stamps`); what it returns is what `probe`, `webrtc_frames`
    and `video_state` read."""
    try:
        page.wait_for_function(VIDEO_PLAYING_JS, timeout=timeout_ms)
    except Exception:
        raise AssertionError(f"no WebRTC video played on the Live page within {timeout_ms / 1000:g} s; "
                             f"{page_report(page, 'live_page_video_not_playing')}") from None
    page.evaluate(FRAME_PROBE_JS, read_stamps)
    page.wait_for_function("() => !!(window.liveProbes && window.liveProbes[0])", timeout=timeout_ms)
    return page


def page_report(page, name: str) -> str:
    """What `page` shows (PAGE_REPORT_JS), for a failure report, with its screenshot saved as `name`.png."""
    screenshot(page, RESULTS_DIR / f"{name}.png")
    return f"the page: {page.evaluate(PAGE_REPORT_JS)}"


def video_state(page, index: int = 0) -> dict:
    """The live video element's own counters (`index`-th on the page): connection state, frames shown, boxes and
    class ids drawn on the frame on screen, its signal, and ms from connected to the first frame."""
    state = page.evaluate("i => { const element = document.querySelectorAll('.eds-live')[i];"
                          " return element ? {...element.liveVideo} : null; }", index)
    if state is None:
        raise AssertionError(f"the page has no live video {index}; {page_report(page, 'live_page_video_gone')}")
    return state


SHARING = re.compile(r"video: one VP8 encoding for (\d+) WebRTC viewer\(s\) · frames encoded (\d+) · sent (\d+) · "
                     r"keyframes (\d+) \(asked (\d+)\)")


def video_sharing(page) -> dict[str, int]:
    """The health panel's video-sharing counters: viewers, frames encoded (once each), frames sent to all viewers,
    keyframes and keyframes asked for (viewers joining)."""
    text = page.get_by_text(SHARING).first.inner_text()
    numbers = [int(value) for value in SHARING.search(text).groups()]
    return dict(zip(("viewers", "encoded", "sent", "keyframes", "keyframes_asked"), numbers))


def set_threshold(page, value: float) -> None:
    """Move this page's score threshold slider to `value` (steps of 0.05, with the keyboard)."""
    slider = page.get_by_test_id("stSlider").filter(has_text="Score threshold")
    handle = slider.locator("input[type=range]")
    steps = round((value - float(handle.input_value())) / 0.05)
    handle.focus()
    for _ in range(abs(steps)):
        handle.press("ArrowRight" if steps > 0 else "ArrowLeft")
    slider.get_by_test_id("stSliderThumbValue").get_by_text(f"{value:.2f}", exact=True).wait_for(timeout=30_000)


def open_live(browser, url: str, *, stream: str | None = None, viewport: dict | None = None, requests=None,
              read_stamps: bool = True):
    """A new page on the Live page (the stream `stream`, else the first: the demo stream) with its video playing;
    every URL the page requests is appended to `requests` when given."""
    context = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000})
    context.add_init_script(PEER_RECORDER_JS)
    context.add_init_script(ERROR_RECORDER_JS)
    page = context.new_page()
    if requests is not None:
        page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{url}/live", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Live").wait_for(timeout=60_000)
    if stream is not None:
        choose_stream(page, stream)
    return page, playing_video(page, read_stamps=read_stamps)


def probe(page, index: int = 0) -> dict:
    """Frames shown by the page's `index`-th video so far, and (time, stamp read) samples of them."""
    return page.evaluate("i => ({frames: window.liveProbes[i].frames, samples: window.liveProbes[i].samples})", index)


def webrtc_frames(page) -> dict[str, int]:
    """Video frames the page's WebRTC peers have received from the server and decoded so far (their RTP stats)."""
    return page.evaluate(PEER_COUNTS_JS)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_cpu_seconds() -> float:
    """CPU seconds of every chromium process alive now (the browser, its GPU and network services, the pages)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and "chromium" in (entry / "comm").read_text():
                total += process_cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue  # a process that ended meanwhile
    return total


class DemoSender:
    """Sends the demo scene as RTP (H.265 by default) at `fps` from a thread and remembers each frame's send time by
    number."""

    def __init__(self, port: int, fps: float = 30.0, codec: str = "h265") -> None:
        self.port, self.fps, self.codec = port, fps, codec
        self.sent_at: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from core.stream.demo import COUNTER_BITS, draw_demo_frame
        from core.stream.rtp_sender import RtpSender

        sender = RtpSender("127.0.0.1", self.port, self.codec, fps=self.fps)
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


def measure(pid: int, pages: list, seconds: float) -> dict:
    """App and browser CPU and frames shown per page over `seconds`; latency samples from the pages that read
    stamps; the video's sharing counters over the same time (from the first page's health panel); the 1-minute load
    average."""
    before = [probe(page)["frames"] for page in pages]
    received_before = [webrtc_frames(page)["received"] for page in pages]
    sharing_before = video_sharing(pages[0])
    cpu, browsers, wall = process_cpu_seconds(pid), browser_cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu, browsers = process_cpu_seconds(pid) - cpu, browser_cpu_seconds() - browsers
    wall = time.monotonic() - wall
    after = [probe(page) for page in pages]
    received = [webrtc_frames(page)["received"] - b for page, b in zip(pages, received_before)]
    sharing = video_sharing(pages[0])
    encoded, sent = sharing["encoded"] - sharing_before["encoded"], sharing["sent"] - sharing_before["sent"]
    return {"viewers": len(pages), "seconds": round(wall, 2), "app_cpu_percent": round(100 * cpu / wall, 1),
            "browsers_cpu_percent": round(100 * browsers / wall, 1),
            "fps_shown": [round((a["frames"] - b) / wall, 1) for a, b in zip(after, before)],
            "fps_received": [round(count / wall, 1) for count in received],
            "frames_encoded": encoded, "frames_sent": sent, "webrtc_viewers": sharing["viewers"],
            "sent_per_encoded": round(sent / encoded, 2) if encoded else None,
            "load_average_1min": round(os.getloadavg()[0], 2), "samples": [a["samples"] for a in after]}


def latency_ms(samples: list[list[list[float]]], sent_at: dict[int, float]) -> dict:
    values = [shown - sent_at[counter] * 1000.0 for page in samples for shown, counter in page if counter in sent_at]
    values = [v for v in values if 0 <= v < 10_000]  # a misread stamp maps to a far-off frame
    if not values:
        return {"count": 0}
    return {"count": len(values), "p50": round(statistics.median(values), 1),
            "p95": round(_percentile(values, 0.95), 1), "min": round(min(values), 1)}


def cpu_ratio(rows: list[dict], phase: str) -> float | None:
    """App CPU of `phase` over that of the one-viewer phase."""
    one, other = rows[0]["app_cpu_percent"], next(row for row in rows if row["phase"] == phase)["app_cpu_percent"]
    return round(other / one, 2) if one else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--viewers", type=int, default=5)
    parser.add_argument("--thresholds", default="0.3,0.4,0.5,0.6,0.7",
                        help="one score threshold per viewer for the last phase (cycled if fewer)")
    args = parser.parse_args()
    thresholds = [float(value) for value in args.thresholds.split(",")]

    from playwright.sync_api import sync_playwright

    from benchmarks.common import save_results

    port = free_port()
    with tempfile.TemporaryDirectory() as data, DemoSender(port) as sender, sync_playwright() as playwright:
        streams = [StreamEntry(RTP_STREAM, f"rtp://127.0.0.1:{port}?codec=h265")]
        process, url = start_streamlit({**APP_ENV, **configure_streams(Path(data), streams, (port,))}, Path(data))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_WEBRTC_ARGS)
        try:
            small = {"width": 1000, "height": 900}
            pages = [open_live(browser, url, stream=RTP_STREAM, viewport=small)[1]]
            time.sleep(3)
            rows = [{"phase": "1 viewer", **measure(process.pid, pages, args.seconds)}]
            pages += [open_live(browser, url, stream=RTP_STREAM, viewport=small, read_stamps=False)[1]
                      for _ in range(args.viewers - 1)]
            time.sleep(3)
            rows.append({"phase": f"{args.viewers} viewers, one filter", **measure(process.pid, pages, args.seconds)})
            for number, page in enumerate(pages):
                set_threshold(page, thresholds[number % len(thresholds)])
            time.sleep(3)
            rows.append({"phase": f"{args.viewers} viewers, {len(set(thresholds))} thresholds",
                         "thresholds": [thresholds[n % len(thresholds)] for n in range(len(pages))],
                         **measure(process.pid, pages, args.seconds)})
        finally:
            browser.close()
            process.terminate()
            process.wait(timeout=20)
    for row in rows:
        row["glass_to_browser_ms"] = latency_ms(row.pop("samples"), sender.sent_at)
        print(f"{row['phase']}: app CPU {row['app_cpu_percent']} % of one core, browsers' CPU "
              f"{row['browsers_cpu_percent']} %, fps received {row['fps_received']}, "
              f"fps shown {row['fps_shown']}, frames encoded {row['frames_encoded']} and sent {row['frames_sent']}, "
              f"glass-to-browser {row['glass_to_browser_ms']}, load average {row['load_average_1min']}")
    ratios = {"same_filter": cpu_ratio(rows, rows[1]["phase"]), "own_thresholds": cpu_ratio(rows, rows[2]["phase"])}
    print(f"app CPU, {args.viewers} viewers / 1: {ratios}")
    metrics = {"viewers_cpu_ratio": (ratios["same_filter"], "x"),
               "viewers_cpu_ratio_own_thresholds": (ratios["own_thresholds"], "x"),
               "viewers_min_fps_shown": (min(rows[2]["fps_shown"] + rows[1]["fps_shown"]), "fps")}
    path = save_results("live_viewers", {"source": "RTP H.265 640x480@30 demo scene (this process)",
                                         "transport": "WebRTC (aiortc, one VP8 encoding per pipeline; boxes drawn "
                                                      "in the browser)", "cpu_ratio": ratios, "rows": rows},
                        {name: value for name, value in metrics.items() if value[0] is not None})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
