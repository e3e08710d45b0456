"""Benchmark: what each extra viewer of a live stream costs the server per frame, for the two ways of giving viewers
their own score threshold and class filter.

    python -m benchmarks.view_cost [--frames 150] [--views 1,2,5]   (writes benchmarks/results/view_cost-*.json)

- `draw_and_encode`: boxes drawn on the server for each distinct view and each drawn picture VP8-encoded (what one
  encode per pipeline and view filter costs: N filters, N draws and N encodes a frame);
- `encode_once_overlay`: the picture encoded once without boxes, and for each viewer the frame's overlay message
  (`core.live.webrtc.frame_message`; the browser draws the boxes its filter keeps).

640x480 demo frames with their 7 objects as detections, on one thread of this machine; milliseconds per frame
(median of the frames after a warm-up), and the share of one core at 30 fps.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from benchmarks.common import save_results
from core.detect.base import Detections
from core.detect.overlay import draw_detections
from core.live.broadcast import EncodedFrame, Vp8Encoder, overlay_json
from core.live.webrtc import frame_message
from core.stream.demo import DEMO_CLASSES, draw_demo_frame

WARMUP = 20
FPS = 30


def _frames(count: int) -> list[tuple[np.ndarray, Detections]]:
    frames = []
    for index in range(count):
        image, objects = draw_demo_frame(index)
        boxes = np.array([obj.box for obj in objects], np.float32)
        labels = np.array([DEMO_CLASSES.index(obj.class_name) for obj in objects])
        scores = np.linspace(0.95, 0.35, len(objects)).astype(np.float32)
        frames.append((image, Detections(boxes, scores, labels)))
    return frames


def draw_and_encode(frames, views: int) -> list[float]:
    """ms per frame: each view's own drawing (its own threshold) and its own encoder."""
    encoders = [Vp8Encoder() for _ in range(views)]
    thresholds = np.linspace(0.3, 0.7, views)
    timings = []
    for image, detections in frames:
        started = time.perf_counter()
        for encoder, threshold in zip(encoders, thresholds):
            encoder.encode(draw_detections(image, detections.filtered(min_score=float(threshold)), DEMO_CLASSES))
        timings.append((time.perf_counter() - started) * 1000.0)
    return timings


def encode_once_overlay(frames, views: int) -> list[float]:
    """ms per frame: one encoder for everyone, one overlay message per viewer."""
    encoder = Vp8Encoder()
    timings = []
    for sequence, (image, detections) in enumerate(frames, 1):
        started = time.perf_counter()
        data, keyframe = encoder.encode(image)
        frame = EncodedFrame(sequence, data, keyframe, overlay_json(detections, 640, 480, "live"), sequence)
        for viewer in range(views):
            frame_message(frame, sequence * 3000 + viewer)
        timings.append((time.perf_counter() - started) * 1000.0)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--views", default="1,2,5")
    args = parser.parse_args()
    frames = _frames(args.frames + WARMUP)
    rows = []
    load = os.getloadavg()[0]
    for views in (int(value) for value in args.views.split(",")):
        for way in (draw_and_encode, encode_once_overlay):
            median = statistics.median(way(frames, views)[WARMUP:])
            rows.append({"way": way.__name__, "views": views, "ms_per_frame": round(median, 3),
                         "core_share_at_30fps": round(median * FPS / 1000.0, 3)})
            print(f"{way.__name__:>20} {views} view(s): {median:6.2f} ms a frame "
                  f"({100 * median * FPS / 1000:.0f} % of a core at {FPS} fps)")
    path = save_results("view_cost", {"frames": args.frames, "size": "640x480", "load_average_1min": round(load, 2),
                                      "rows": rows})
    print(f"wrote {path} (1-minute load average {load:.2f} at the start)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
