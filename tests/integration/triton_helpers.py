"""Shared by the Triton integration tests: several client threads detecting at once against one `core serve`."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.detect.base import Detections
from core.serve.process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "assets/demo/mb1-ssd-demo-fp16.pth"
LABELS = ROOT / "assets/demo/labels.txt"
THREAD_TIMEOUT_S = 120
METRICS_SETTLE_S = 10.0  # Triton refreshes its Prometheus counters periodically, not at each request


def server_options(input_mode: str) -> tuple[str, ...]:
    """`core serve` options for the tests: torch on the CPU, batches of up to 8 gathered for 20 ms."""
    return ("--input", input_mode, "--backend", "torch", "--device", "cpu", "--max-batch", "8",
            "--queue-delay-us", "20000")


def detect_concurrently(server: ServeProcess, make_detector: Callable[[], object],
                        frames: Sequence[Sequence[np.ndarray]]) -> tuple[list, list[list[Detections]], float, float]:
    """Thread i loads its own detector with `make_detector()` and detects `frames[i]` one frame per call, all threads
    detecting from the same moment on. Returns the detectors, the detections per thread, and the requests and
    executions Triton counted meanwhile (fewer executions than requests: the dynamic batcher grouped them)."""
    detectors: list = [None] * len(frames)
    results: list[list[Detections]] = [[] for _ in frames]
    before = server.metric("nv_inference_count"), server.metric("nv_inference_exec_count")
    barrier = threading.Barrier(len(frames))

    def stream(number: int) -> None:
        detectors[number] = detector = make_detector()
        barrier.wait()
        results[number] = [detector.detect([frame])[0] for frame in frames[number]]

    run_threads(stream, len(frames))
    sent = sum(len(part) for part in frames)
    deadline = time.monotonic() + METRICS_SETTLE_S
    while server.metric("nv_inference_count") - before[0] < sent and time.monotonic() < deadline:
        time.sleep(0.1)
    requests = server.metric("nv_inference_count") - before[0]
    executions = server.metric("nv_inference_exec_count") - before[1]
    return detectors, results, requests, executions


def run_threads(target: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=target, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT_S)
