"""Scenario 2: the live pipeline on this machine's cores: RTP H.265 from a real sender process on loopback
(`python -m core send`, the demo scene at 30 fps), received, decoded and detected on every frame it can.

    python -m benchmarks.live_pipeline [--seconds 60] [--size 640x480] [--weights W --labels L --backend B]

Reports the frames the pipeline processed per second (detection included), the frames that arrived, and the
latency from a frame's first RTP packet to its annotated picture (median, p95, max), overall and per window of
`--window` seconds, so a drift over a long run shows. The sender runs in its own process on the same cores.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from core.detect import DetectorSpec, load_detector
from core.live import LivePipeline
from core.stream import open_source

START_TIMEOUT_S = 30.0
WARMUP_S = 3.0
FPS = 30.0


def _sender(port: int, width: int, height: int, seconds: float) -> subprocess.Popen:
    command = [sys.executable, "-m", "core", "send", "--source", "demo:", "--codec", "h265", "--host", "127.0.0.1",
               "--port", str(port), "--width", str(width), "--height", str(height), "--fps", f"{FPS:g}",
               "--duration", f"{seconds:g}"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    array = np.asarray(values)
    return {"count": int(array.size), "p50": round(float(np.median(array)), 2),
            "p95": round(float(np.percentile(array, 95)), 2), "max": round(float(array.max()), 2)}


def measure(spec: DetectorSpec, *, width: int, height: int, seconds: float, window: float = 60.0) -> dict:
    """Run sender and pipeline for `seconds` after a warm-up; processed fps and packet-to-picture latency."""
    detector = load_detector(spec)
    source = open_source("rtp://127.0.0.1:0?codec=h265")
    sender = _sender(source.port, width, height, seconds + WARMUP_S + START_TIMEOUT_S)
    samples: list[tuple[float, float]] = []  # (monotonic time, latency ms) of every result this loop saw
    try:
        with LivePipeline(source, detector, stats_window=100_000) as pipeline:
            first = pipeline.wait_result(0, timeout=START_TIMEOUT_S)
            if first is None:
                raise RuntimeError(f"no frame processed within {START_TIMEOUT_S:g} s: "
                                   f"{pipeline.failure or (sender.poll() is not None and sender.stderr.read()[-300:])}")
            time.sleep(WARMUP_S)
            processed_before, in_before = pipeline.frames_processed, pipeline.frames_in
            started = time.monotonic()
            sequence = pipeline.latest().sequence
            while time.monotonic() - started < seconds:
                result = pipeline.wait_result(sequence, timeout=1.0)
                if result is not None and result.sequence != sequence:
                    sequence = result.sequence
                    samples.append((time.monotonic() - started, result.latency_ms))
            elapsed = time.monotonic() - started
            processed, arrived = pipeline.frames_processed - processed_before, pipeline.frames_in - in_before
            stats = pipeline.stats()
    finally:
        sender.kill()
        sender.wait()
    windows = []
    for start in np.arange(0.0, elapsed - window / 2, window):  # a last window under half the length is dropped
        end = min(start + window, elapsed)
        inside = [latency for at, latency in samples if start <= at < end]
        windows.append({"from_s": round(float(start), 1), "fps_seen": round(len(inside) / (end - start), 2),
                        "latency_ms": _summary(inside)})
    return {"size": f"{width}x{height}", "fps_sent": FPS, "seconds": round(elapsed, 2),
            "fps_processed": round(processed / elapsed, 2), "fps_in": round(arrived / elapsed, 2),
            "frames_skipped": stats["frames_skipped"], "latency_ms": _summary([latency for _, latency in samples]),
            "windows": windows, "stages_ms_p50": {name: value["p50"] for name, value in stats["stages_ms"].items()},
            "detector": stats["detector"], "threads": spec.threads,
            "decode_errors": stats["source"].get("decode_errors")}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.cpu_detect import DEMO_LABELS, ensure_int8_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the sent stream")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per window of the drift check")
    parser.add_argument("--weights", type=Path, help="default: the demo model's INT8 ONNX (built once)")
    parser.add_argument("--labels", type=Path, default=DEMO_LABELS)
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    width, height = (int(value) for value in args.size.lower().split("x"))
    spec = DetectorSpec(args.weights or ensure_int8_model(), args.labels, backend=args.backend, device="cpu",
                        threads=args.threads)
    print(json.dumps(measure(spec, width=width, height=height, seconds=args.seconds, window=args.window), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
