"""Scenario 2: the live pipeline on this machine's cores: RTP H.265 from a real sender process on loopback
at 30 fps, received, decoded and detected on every frame it can.

    python -m benchmarks.live_pipeline [--seconds 60] [--size 640x480] [--sender replay|encode]
                                       [--weights W --labels L --backend B]

Senders, each its own process on the same cores:
- `replay` (default): the demo scene encoded once, ahead of the measure, with the sender's own settings (x265
  zero-latency, a keyframe a second, parameter sets before every keyframe) into a 10 s clip that FFmpeg's RTP muxer
  sends in a loop at 30 fps (`ffmpeg -re -stream_loop -1 ... -c copy -f rtp`). A Jetson encodes in hardware on its
  own machine, so the encoder's CPU is not taken from the pipeline's two cores.
- `encode`: `python -m core send`, drawing and encoding every frame in software on these same cores.

Reports the frames the pipeline processed per second (detection included), the frames that arrived, and the
latency from a frame's first RTP packet to its annotated picture (median, p95, max), overall and per window of
`--window` seconds, so a drift over a long run shows.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from core.detect import DetectorSpec, load_detector
from core.live import LivePipeline
from core.stream import open_source
from core.stream.demo import draw_demo_frame
from core.stream.rtp_sender import encoder_options
from core.timing.percentiles import percentile

START_TIMEOUT_S = 30.0
WARMUP_S = 3.0
FPS = 30.0
CLIP_FRAMES = 300  # 10 s, looped by the replay sender
SENDERS = ("replay", "encode")


def write_demo_clip(path: Path, width: int, height: int) -> Path:
    """The demo scene's first CLIP_FRAMES frames as H.265 in Matroska, encoded as `core send` encodes them."""
    with av.open(str(path), "w") as clip:
        stream = clip.add_stream("libx265", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = encoder_options("h265", int(FPS))
        for index in range(CLIP_FRAMES):
            frame = av.VideoFrame.from_ndarray(draw_demo_frame(index, width, height)[0], format="bgr24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = index
            clip.mux(stream.encode(frame))
        clip.mux(stream.encode())
    return path


def replay_command(clip: Path, port: int, seconds: float) -> list[str]:
    """FFmpeg sending `clip` (H.265, looped, at its own rate) as RTP to 127.0.0.1:`port` for `seconds`."""
    return ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(clip),
            "-t", f"{seconds:g}", "-c", "copy", "-f", "rtp", "-payload_type", "96", f"rtp://127.0.0.1:{port}"]


def _sender(kind: str, port: int, width: int, height: int, seconds: float, folder: Path) -> subprocess.Popen:
    if kind == "replay":
        command = replay_command(write_demo_clip(folder / f"demo-{width}x{height}.mkv", width, height), port, seconds)
    else:
        command = [sys.executable, "-m", "core", "send", "--source", "demo:", "--codec", "h265", "--host",
                   "127.0.0.1", "--port", str(port), "--width", str(width), "--height", str(height), "--fps",
                   f"{FPS:g}", "--duration", f"{seconds:g}"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    array = np.asarray(values)
    return {"count": int(array.size), "p50": round(float(np.median(array)), 2),
            "p95": round(percentile(array, 95), 2), "max": round(float(array.max()), 2)}


def measure(spec: DetectorSpec, *, width: int, height: int, seconds: float, window: float = 60.0,
            sender_kind: str = "replay") -> dict:
    """Run sender and pipeline for `seconds` after a warm-up; processed fps and packet-to-picture latency."""
    detector = load_detector(spec)
    source = open_source("rtp://127.0.0.1:0?codec=h265")
    clip_folder = tempfile.TemporaryDirectory(prefix="eds-live-")
    sender = _sender(sender_kind, source.port, width, height, seconds + WARMUP_S + START_TIMEOUT_S,
                     Path(clip_folder.name))
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
        clip_folder.cleanup()
    windows = []
    for start in np.arange(0.0, elapsed - window / 2, window):  # a last window under half the length is dropped
        end = min(start + window, elapsed)
        inside = [latency for at, latency in samples if start <= at < end]
        windows.append({"from_s": round(float(start), 1), "fps_seen": round(len(inside) / (end - start), 2),
                        "latency_ms": _summary(inside)})
    return {"size": f"{width}x{height}", "sender": sender_kind, "fps_sent": FPS, "seconds": round(elapsed, 2),
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
    parser.add_argument("--sender", choices=SENDERS, default="replay", help="see the module docstring")
    args = parser.parse_args(argv)
    width, height = (int(value) for value in args.size.lower().split("x"))
    spec = DetectorSpec(args.weights or ensure_int8_model(), args.labels, backend=args.backend, device="cpu",
                        threads=args.threads)
    print(json.dumps(measure(spec, width=width, height=height, seconds=args.seconds, window=args.window,
                             sender_kind=args.sender), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
