"""Benchmark: two cameras at once, each its own shared pipeline with detection, on this machine's CPU.

    python -m benchmarks.two_streams [--seconds 15]     (writes benchmarks/results/two_streams-*.json)

Stream A is the demo scene generated in process (640x480 at 30 fps), stream B a real RTP H.265 stream of the demo
scene that `python -m core send` sends to 127.0.0.1 from its own process (640x480 at 30 fps), received with
codec=auto. Both pipelines come from one PipelineRegistry, as in the app, and detect with the bundled demo model on
ONNX Runtime, one thread each (the Live page's choice). Each stream's processed rate (frames through detection per
second), arriving rate, latency and boxes per frame are measured alone and then with both running; CPU is this
process's CPU time over wall time (100 % = one core; the sender's process is not included).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

from benchmarks.common import publish_results
from core.config import load_settings
from core.detect import DetectorSpec, load_detector
from core.live.pipeline import LivePipeline
from core.live.registry import PipelineRegistry
from core.model.catalog import models_or_untrained
from core.stream.sources import AUTO_CODEC

BACKEND, THREADS, MIN_SCORE = "onnxruntime", 1, 0.5
WARMUP_S = 3.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def count_boxes(pipeline: LivePipeline) -> int | None:
    result = pipeline.latest()
    if result is None or result.detections is None:
        return None
    return int((result.detections.scores >= MIN_SCORE).sum())


def measure(pipelines: dict[str, LivePipeline], seconds: float) -> dict:
    """Processed and arriving rates, latency and boxes per processed frame of each pipeline over `seconds`."""
    for pipeline in pipelines.values():
        if pipeline.wait_result(0, timeout=60) is None:
            raise RuntimeError(f"no result from {pipeline.source.uri} within 60 s: {pipeline.stats()}")
    time.sleep(WARMUP_S)
    before = {name: (p.frames_processed, p.source.health.frames_decoded, p.frames_skipped)
              for name, p in pipelines.items()}
    boxes: dict[str, list[int]] = {name: [] for name in pipelines}
    cpu_started, started = time.process_time(), time.monotonic()
    while time.monotonic() - started < seconds:
        time.sleep(0.1)
        for name, pipeline in pipelines.items():
            count = count_boxes(pipeline)
            if count is not None:
                boxes[name].append(count)
    wall, cpu = time.monotonic() - started, time.process_time() - cpu_started
    streams = {}
    for name, pipeline in pipelines.items():
        stats = pipeline.stats()
        processed, decoded, skipped = before[name]
        streams[name] = {
            "uri": pipeline.source.uri,
            "fps_processed": round((pipeline.frames_processed - processed) / wall, 2),
            "fps_decoded": round((pipeline.source.health.frames_decoded - decoded) / wall, 2),
            "frames_skipped": pipeline.frames_skipped - skipped,  # decoded, not detected (detector busy)
            "latency_ms_p50": round(stats["latency_ms"]["p50"], 1),
            "latency_ms_p95": round(stats["latency_ms"]["p95"], 1),
            "infer_ms_p50": round(stats["stages_ms"]["infer"]["p50"], 2),
            "boxes_per_frame": round(sum(boxes[name]) / max(len(boxes[name]), 1), 2),
            "packets_lost": stats["source"]["packets_lost"],
            "codec": stats["source"].get("codec"),
        }
    return {"seconds": round(wall, 2), "cpu_percent_of_one_core": round(100 * cpu / wall, 1), "streams": streams}


def run_phase(registry: PipelineRegistry, uris: dict[str, str], spec: DetectorSpec, seconds: float) -> dict:
    pipelines = {name: registry.acquire(uri, lambda: load_detector(spec)) for name, uri in uris.items()}
    try:
        return measure(pipelines, seconds)
    finally:
        for uri in uris.values():
            registry.release(uri)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per phase (default 15)")
    args = parser.parse_args()
    settings = load_settings()
    model = models_or_untrained(settings)[0]
    spec = DetectorSpec(model.weights, model.labels, backend=BACKEND, device="cpu", threads=THREADS)
    port = free_udp_port()
    uris = {"demo": "demo:", "rtp_h265": f"rtp://127.0.0.1:{port}?codec={AUTO_CODEC}"}
    sender = subprocess.Popen(
        [sys.executable, "-m", "core", "send", "--source", "demo:", "--codec", "h265", "--host", "127.0.0.1",
         "--port", str(port), "--fps", "30", "--duration", str(4 * (args.seconds + WARMUP_S) + 60)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    registry = PipelineRegistry(max_pipelines=settings.max_pipelines)
    load_before = os.getloadavg()
    try:
        phases = {"demo_alone": run_phase(registry, {"demo": uris["demo"]}, spec, args.seconds),
                  "rtp_h265_alone": run_phase(registry, {"rtp_h265": uris["rtp_h265"]}, spec, args.seconds),
                  "both": run_phase(registry, uris, spec, args.seconds)}
    finally:
        registry.stop_all()
        sender.terminate()
        sender.wait(timeout=10)
    results = {"seconds": args.seconds, "model": model.name, "backend": BACKEND, "threads_per_detector": THREADS,
               "cpus": os.cpu_count(), "load_average_1min": {"before": round(load_before[0], 2),
                                                             "after": round(os.getloadavg()[0], 2)},
               "phases": phases}
    metrics = {f"{phase}_{name}_fps_processed": (stream["fps_processed"], "fps")
               for phase, result in phases.items() for name, stream in result["streams"].items()}
    metrics["both_cpu_percent_of_one_core"] = (phases["both"]["cpu_percent_of_one_core"], "%")
    publish_results("two_streams", results, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
