"""Shared by the Triton integration tests: several client threads, or processes, detecting at once against one\n`core serve`."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.detect.base import Detections
from core.serve.process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "assets/demo/mb1-ssd-demo-fp16.pth"
LABELS = ROOT / "assets/demo/labels.txt"
THREAD_TIMEOUT_S = 120


def server_options(input_mode: str) -> tuple[str, ...]:
    """`core serve` options for the tests: torch on the CPU in two instances of one thread each (the 2-core
    machine's), batches of up to 8 gathered for 20 ms."""
    return ("--input", input_mode, "--backend", "torch", "--device", "cpu", "--max-batch", "8",
            "--queue-delay-us", "20000", "--instances", "2", "--threads", "1")


def detect_concurrently(server: ServeProcess, make_detector: Callable[[], object],
                        frames: Sequence[Sequence[np.ndarray]]) -> tuple[list, list[list[Detections]], int, int]:
    """Thread i loads its own detector with `make_detector()` and detects `frames[i]` one frame per call, all threads
    detecting from the same moment on. Returns the detectors, the detections per thread, and the requests and
    executions Triton counted meanwhile (fewer executions than requests: the dynamic batcher grouped them)."""
    detectors: list = [None] * len(frames)
    results: list[list[Detections]] = [[] for _ in frames]
    before = server.statistics()
    barrier = threading.Barrier(len(frames))

    def stream(number: int) -> None:
        detectors[number] = detector = make_detector()
        barrier.wait()
        results[number] = [detector.detect([frame])[0] for frame in frames[number]]

    run_threads(stream, len(frames))
    after = server.statistics()
    return (detectors, results, after["inference_count"] - before["inference_count"],
            after["execution_count"] - before["execution_count"])


def client_process(url: str, frame_indices: Sequence[int], barrier, answers) -> None:
    """One client process (spawned): its own `triton` detector; before each frame every process waits at `barrier`,
    so the processes' requests reach the server together. Puts (pid, detections found per frame) on `answers`."""
    from core.detect import DetectorSpec, load_detector
    from core.stream.demo import draw_demo_frame

    detector = load_detector(DetectorSpec(WEIGHTS, LABELS, backend="triton", triton_url=url))
    detector.timeout_s = 60.0
    found = []
    for index in frame_indices:
        frame = draw_demo_frame(index, stamp=False)[0]
        barrier.wait(timeout=THREAD_TIMEOUT_S)
        found.append(len(detector.detect([frame])[0]))
    answers.put((os.getpid(), found))


def run_threads(target: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=target, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT_S)
