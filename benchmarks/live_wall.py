"""Benchmark: the Wall page in headless chromium with 4 RTP cameras at once, each detected with the demo model's
ONNX Runtime INT8 file.

    python -m benchmarks.live_wall [--seconds 15] [--streams 4] [--codec h264]
    (writes benchmarks/results/live_wall-*.json and records a `benchmark` run)

This process sends the demo scene to each stream's UDP port as RTP at 30 fps (its own encoder per stream, on the
same cores as the app: x264 by default, the cheaper one) and remembers when each stamped frame left. One browser
page shows the wall; once every tile plays, the INT8 model is chosen on the page (every tile's pipeline swaps to
it) and, after a warm-up, each tile's shown frames (requestVideoFrameCallback) and glass-to-browser latency (the
stamp read back from each shown frame) are measured, with the server's processed rate and latency per tile (its
caption), the app's CPU and the 1-minute load average. The goal: every tile at least 10 fps shown, p95 latency at
most 200 ms.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks.browser import CHROMIUM, free_port, screenshot, start_streamlit
from benchmarks.common import RESULTS_DIR
from benchmarks.live_viewers import (APP_ENV, CHROMIUM_WEBRTC_ARGS, FRAME_PROBE_JS, PEER_RECORDER_JS, DemoSender,
                                     choose, configure_streams, latency_ms, probe, process_cpu_seconds)
from core.stream.configured import StreamEntry

MIN_FPS_SHOWN = 10.0
MAX_P95_LATENCY_MS = 200.0
WARMUP_S = 5.0
START_TIMEOUT_S = 120.0
INT8_FOLDER = "wall-int8"  # under the app's data root: the catalog lists it as "wall-int8/<file>"
TILES_JS = "() => [...document.querySelectorAll('.eds-live')].map(e => ({...e.liveVideo}))"
CAPTION = re.compile(r"processed ([\d.]+) fps · latency p95 (\d+|–)(?: ms)? · model (.+)")


def tiles(page) -> list[dict]:
    """Each tile's own counters, in page order (its title, frames shown, signal, boxes drawn)."""
    return page.evaluate(TILES_JS)


def server_captions(page) -> list[dict]:
    """Each tile's caption as the server writes it: processed fps, latency p95 and the model, in page order."""
    found = []
    for text in page.get_by_text(CAPTION).all_inner_texts():
        fps, p95, model = CAPTION.search(text).groups()
        found.append({"fps_processed": float(fps), "latency_p95_ms": None if p95 == "–" else float(p95),
                      "model": model})
    return found


def _install_int8(data_root: Path) -> str:
    """The demo model's INT8 file (built once, see benchmarks.cpu_detect) under the app's data root; its name in
    the app's model list."""
    from benchmarks.cpu_detect import DEMO_LABELS, ensure_int8_model

    int8 = ensure_int8_model()
    folder = data_root / "models" / INT8_FOLDER
    folder.mkdir(parents=True)
    shutil.copy(int8, folder / int8.name)
    shutil.copy(DEMO_LABELS, folder / "labels.txt")
    return f"{INT8_FOLDER}/{int8.name}"


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        time.sleep(0.5)


def measure_wall(pid: int, page, senders: dict[str, DemoSender], seconds: float) -> dict:
    """Per tile over `seconds`: frames shown per second and glass-to-browser latency; the app's CPU."""
    order = [tile["title"] for tile in tiles(page)]
    before = [probe(page, index)["frames"] for index in range(len(order))]
    cpu, wall, load = process_cpu_seconds(pid), time.monotonic(), os.getloadavg()[0]
    time.sleep(seconds)
    cpu, wall = process_cpu_seconds(pid) - cpu, time.monotonic() - wall
    captions = server_captions(page)
    result = {"seconds": round(wall, 2), "app_cpu_percent": round(100 * cpu / wall, 1),
              "load_average_1min": {"before": round(load, 2), "after": round(os.getloadavg()[0], 2)}, "tiles": []}
    for index, title in enumerate(order):
        after = probe(page, index)
        recent = [sample for sample in after["samples"] if sample[0] >= (time.time() - wall) * 1000.0]
        result["tiles"].append({"stream": title, "fps_shown": round((after["frames"] - before[index]) / wall, 1),
                                "glass_to_browser_ms": latency_ms([recent], senders[title].sent_at),
                                **(captions[index] if index < len(captions) else {})})
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--codec", default="h264", choices=("h264", "h265"), help="what this process sends")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from benchmarks.common import save_results

    ports = [free_port() for _ in range(args.streams)]
    names = [f"Camera {number + 1}" for number in range(args.streams)]
    with tempfile.TemporaryDirectory() as data, ExitStack() as stack, sync_playwright() as playwright:
        model = _install_int8(Path(data))
        senders = {name: stack.enter_context(DemoSender(port, codec=args.codec)) for name, port in zip(names, ports)}
        streams = [StreamEntry(name, f"rtp://127.0.0.1:{port}?codec={args.codec}") for name, port in zip(names, ports)]
        env = {**APP_ENV, **configure_streams(Path(data), streams, tuple(ports)),
               "EDS_MAX_PIPELINES": str(args.streams)}
        process, url = start_streamlit(env, Path(data))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_WEBRTC_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            context.add_init_script(PEER_RECORDER_JS)
            page = context.new_page()
            page.goto(f"{url}/wall", wait_until="domcontentloaded")
            _wait(lambda: len(tiles(page)) == args.streams
                  and all(tile.get("frames", 0) > 0 for tile in tiles(page)), START_TIMEOUT_S,
                  f"{args.streams} tiles playing")
            page.evaluate(FRAME_PROBE_JS, True)  # every tile reads its frames' stamps: the latency goal is per tile
            page.get_by_text("Model and view").click()
            choose(page, "Model", model)
            _wait(lambda: [caption["model"].split(" (")[0] for caption in server_captions(page)]
                  == [Path(model).stem] * args.streams, START_TIMEOUT_S, f"every tile running {model}")
            time.sleep(WARMUP_S)
            result = measure_wall(process.pid, page, senders, args.seconds)
            screenshot(page, RESULTS_DIR / "live_wall_benchmark.png")
        finally:
            browser.close()
            process.terminate()
            process.wait(timeout=20)
    worst_fps = min(tile["fps_shown"] for tile in result["tiles"])
    worst_p95 = max((tile["glass_to_browser_ms"].get("p95", float("inf")) for tile in result["tiles"]))
    for tile in result["tiles"]:
        print(f"{tile['stream']}: shown {tile['fps_shown']} fps, processed {tile.get('fps_processed')} fps, "
              f"glass-to-browser {tile['glass_to_browser_ms']}")
    print(f"app CPU {result['app_cpu_percent']} % of one core; load average {result['load_average_1min']}; "
          f"worst tile {worst_fps} fps shown (goal ≥ {MIN_FPS_SHOWN:g}), worst p95 {worst_p95} ms "
          f"(goal ≤ {MAX_P95_LATENCY_MS:g})")
    path = save_results("live_wall", {"streams": args.streams, "sent": f"RTP {args.codec.upper()} 640x480@30 demo "
                                      "scene from this process", "model": model, "backend": "onnxruntime",
                                      "goals": {"min_fps_shown": MIN_FPS_SHOWN, "max_p95_ms": MAX_P95_LATENCY_MS},
                                      "worst_fps_shown": worst_fps, "worst_p95_ms": worst_p95, **result},
                        {"wall_worst_fps_shown": (worst_fps, "fps"), "wall_worst_p95_ms": (worst_p95, "ms"),
                         "wall_app_cpu_percent": (result["app_cpu_percent"], "%")})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
