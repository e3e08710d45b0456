"""Benchmark: 1, 4, 8 and 16 simulated 30 fps cameras into one Triton Inference Server (`core serve`).

    python -m benchmarks.triton_streams [--streams 1,4,8,16] [--seconds 10] [--device cpu|cuda] [--precision fp16]
                                        [--input frames|tensors]

Each stream is a thread with its own `triton` detector (all sharing one gRPC channel) that takes the newest frame of
a 640x480 camera running at --fps (frames it could not take in time are counted as skipped, as the live pipeline
skips them) and detects in it. With --input frames (the default, as `core serve`'s) the uint8 frame goes to the
server, which runs the whole detector; with --input tensors, resize and normalization run here, the network in the
server and decoding and NMS here again. Either way Triton's dynamic batcher batches the requests. Per stream count:
aggregate processed fps, latency from the frame's due time to its detections (p50/p95), skipped frames, errors,
and Triton's own request/execution counters (mean batch).
Writes benchmarks/results/triton_streams-*.json and records a `benchmark` run.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.common import save_results
from core.commands.serve import DEFAULT_INPUT, INPUT_MODES
from core.detect import DetectorSpec, load_detector
from core.serve.process import ServeProcess
from core.stream.demo import draw_demo_frame

ROOT = Path(__file__).resolve().parents[1]
DEMO_WEIGHTS = ROOT / "assets/demo/mb1-ssd-demo-fp16.pth"
DEMO_LABELS = ROOT / "assets/demo/labels.txt"
DISTINCT_FRAMES = 30  # one second of the demo scene, drawn once and replayed (drawing is not what is measured)
REQUEST_TIMEOUT_S = 10.0  # saturation should show as latency, not as errors


def stream_detector(url: str):
    """One stream's `triton` detector (loaded before the clock starts: loading is not what is measured)."""
    detector = load_detector(DetectorSpec(DEMO_WEIGHTS, DEMO_LABELS, backend="triton", triton_url=url))
    detector.timeout_s = REQUEST_TIMEOUT_S
    return detector


def camera_stream(detector, frames: list[np.ndarray], *, fps: float, start: float, stop: float,
                  record: dict) -> None:
    """Detect on the newest due frame until `stop` (monotonic seconds); latencies from each frame's due time."""
    taken = -1
    while True:
        now = time.monotonic()
        if now >= stop:
            break
        due = int((now - start) * fps)  # the newest frame the camera has produced
        if due <= taken:
            time.sleep(start + (taken + 1) / fps - now)
            continue
        record["skipped"] += due - taken - 1
        taken = due
        try:
            detector.detect([frames[due % len(frames)]])
        except Exception:  # a failed request is a lost frame; the stream goes on
            record["errors"] += 1
            continue
        record["latencies"].append((time.monotonic() - (start + due / fps)) * 1000.0)


def measure(server: ServeProcess, streams: int, frames: list[np.ndarray], *, fps: float, seconds: float,
            warmup: float) -> dict:
    records = [{"latencies": [], "skipped": 0, "errors": 0} for _ in range(streams)]
    detectors = [stream_detector(server.url) for _ in range(streams)]
    start = time.monotonic() + 0.5
    stop = start + warmup + seconds
    threads = [threading.Thread(target=camera_stream, args=(detectors[index], frames),
                                kwargs={"fps": fps, "start": start + index / (fps * streams), "stop": stop,
                                        "record": records[index]}, daemon=True) for index in range(streams)]
    for thread in threads:
        thread.start()
    time.sleep(max(start + warmup - time.monotonic(), 0))
    counters = server.metric("nv_inference_count"), server.metric("nv_inference_exec_count")
    kept = [len(record["latencies"]) for record in records]
    for thread in threads:
        thread.join(timeout=seconds + warmup + 2 * REQUEST_TIMEOUT_S)
    requests = server.metric("nv_inference_count") - counters[0]
    executions = server.metric("nv_inference_exec_count") - counters[1]
    latencies = np.array([value for record, first in zip(records, kept) for value in record["latencies"][first:]])
    processed = len(latencies)
    return {
        "streams": streams,
        "offered_fps": round(streams * fps, 1),
        "fps_processed": round(processed / seconds, 2),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 1) if processed else None,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 1) if processed else None,
        "frames_processed": processed,
        "frames_skipped": sum(record["skipped"] for record in records),
        "errors": sum(record["errors"] for record in records),
        "server_requests": int(requests),
        "server_executions": int(executions),
        "mean_batch": round(requests / executions, 2) if executions else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,4,8,16", help="stream counts to measure (default 1,4,8,16)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per stream count")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each measurement")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of each simulated camera")
    parser.add_argument("--input", default=DEFAULT_INPUT, choices=INPUT_MODES,
                        help="what the server takes: frames (default, the whole detector runs there) or tensors")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the server runs the network")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--queue-delay-us", type=int, default=2000)
    args = parser.parse_args()
    counts = [int(count) for count in args.streams.split(",")]
    frames = [draw_demo_frame(index, stamp=False)[0] for index in range(DISTINCT_FRAMES)]
    options = ["--input", args.input, "--backend", "torch", "--device", args.device, "--precision", args.precision,
               "--max-batch", str(args.max_batch), "--queue-delay-us", str(args.queue_delay_us)]
    with ServeProcess(DEMO_WEIGHTS, DEMO_LABELS, options=options) as server:
        rows = []
        for streams in counts:
            rows.append(measure(server, streams, frames, fps=args.fps, seconds=args.seconds, warmup=args.warmup))
            print(json.dumps(rows[-1]), file=sys.stderr)
    results = {"server": {"input": args.input, "backend": "torch", "device": args.device, "precision": args.precision,
                          "max_batch": args.max_batch, "queue_delay_us": args.queue_delay_us},
               "camera": {"width": 640, "height": 480, "fps": args.fps}, "seconds": args.seconds, "rows": rows}
    metrics = {}
    for row in rows:
        metrics[f"streams_{row['streams']}_fps_processed"] = (row["fps_processed"], "fps")
        if row["latency_ms_p95"] is not None:
            metrics[f"streams_{row['streams']}_latency_p95_ms"] = (row["latency_ms_p95"], "ms")
    path = save_results("triton_streams", results, metrics)
    print(json.dumps(results, indent=2))
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
