"""Benchmark: CPU use of RTP receive+decode (gst-launch x265 sender, 640x480@30 and 1280x720@30) and live
pipeline throughput with detection on (each available backend, a seeded random-init mb1-ssd).

    python -m benchmarks.stream_receive [--seconds 10]     (writes benchmarks/results/stream_receive-*.json)

CPU is this process's CPU time over wall time (100 % = one core); the sender runs in its own process.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import publish_results
from core.detect import DetectorSpec, available_backends, load_detector
from core.live import LivePipeline
from core.model import build_mobilenet_v1_ssd
from core.model.checkpoint import save_state_dict, write_labels
from core.stream import open_source
from core.stream.pipelines import software_send_pipeline
from core.stream.rtp_sender import run_sender
from core.timing.percentiles import percentile


def measure_receive(width: int, height: int, seconds: float) -> dict:
    source = open_source("rtp://127.0.0.1:0?codec=h265")
    command = ["gst-launch-1.0", "-q"] + software_send_pipeline(host="127.0.0.1", port=source.port, width=width,
                                                                height=height, frames=int(30 * (seconds + 3))).split()
    sender = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while source.read(timeout=5) is None:
            pass
        time.sleep(1.0)  # warm-up
        frames_before, cpu_before, wall_before = source.health.frames_decoded, time.process_time(), time.monotonic()
        latencies = []
        while time.monotonic() - wall_before < seconds:
            frame = source.read(timeout=1)
            if frame is not None:
                latencies.append((time.monotonic() - frame.received_monotonic) * 1000)
        wall = time.monotonic() - wall_before
        cpu = time.process_time() - cpu_before
        frames = source.health.frames_decoded - frames_before
    finally:
        sender.kill()
        sender.wait()
        source.close()
    return {"width": width, "height": height, "fps": round(frames / wall, 2), "cpu_percent_of_one_core":
            round(100 * cpu / wall, 1), "latency_ms_p50": round(float(np.median(latencies)), 2),
            "latency_ms_p95": round(percentile(latencies, 95), 2)}


def measure_pipeline(backend: str, weights: Path, labels: Path, seconds: float) -> dict:
    try:
        detector = load_detector(DetectorSpec(weights, labels, backend=backend, device="cpu"))
    except Exception as error:  # a backend that cannot load here becomes a row with its reason
        return {"backend": backend, "status": f"unavailable: {error}"}
    source = open_source("rtp://127.0.0.1:0?codec=h265")
    stop = threading.Event()
    sender = threading.Thread(target=run_sender, args=("demo:", "127.0.0.1", source.port, "h265"),
                              kwargs={"duration": seconds + 10, "stop": stop}, daemon=True)
    with LivePipeline(source, detector) as pipeline:
        sender.start()
        pipeline.wait_result(0, timeout=20)
        time.sleep(1.0)
        processed, started = pipeline.frames_processed, time.monotonic()
        time.sleep(seconds)
        fps = (pipeline.frames_processed - processed) / (time.monotonic() - started)
        stats = pipeline.stats()
        stop.set()
    sender.join(timeout=5)
    return {"backend": backend, "status": "ok", "fps_processed": round(fps, 2), "fps_in": stats["fps_in"],
            "latency_ms": stats["latency_ms"], "stages_ms": {k: v["p50"] for k, v in stats["stages_ms"].items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    sizes = ((640, 480), (1280, 720))
    results = {"seconds": args.seconds, "receive": [measure_receive(w, h, args.seconds) for w, h in sizes]}
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        weights = save_state_dict(build_mobilenet_v1_ssd(4), Path(folder) / "random.pth")
        labels = write_labels(["BACKGROUND", "circle", "square", "triangle"], Path(folder) / "labels.txt")
        results["pipeline"] = [measure_pipeline(b, weights, labels, args.seconds) for b in available_backends()]
    metrics = {f"receive_{r['width']}x{r['height']}_cpu_percent_of_one_core": (r["cpu_percent_of_one_core"], "%")
               for r in results["receive"]}
    metrics.update({f"pipeline_{r['backend']}_fps_processed": (r["fps_processed"], "fps")
                    for r in results["pipeline"] if r["status"] == "ok"})
    publish_results("stream_receive", results, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
