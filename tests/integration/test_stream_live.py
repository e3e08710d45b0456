"""Live pipeline over a real RTP stream with detection slower than the stream: nothing may queue.

The run lasts the acceptance's 60 s (`STREAM_SOAK_S` shortens it while working on the code). A queue would show in
the pipeline's own counters (frames in, not yet processed nor skipped, growing) and as latency growing by 33 ms per
queued frame; the test asserts on the counters and prints the latency (benchmarks/stream_receive.py measures it).
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from core.detect.base import Detections
from core.live import LivePipeline
from core.stream import open_source
from core.stream.rtp_sender import run_sender

SOAK_S = float(os.environ.get("STREAM_SOAK_S", "60"))


class SleepingDetector:
    backend, precision, device, name = "fake", "fp32", "cpu", "sleeping"
    class_names = ["BACKGROUND", "thing"]
    score_threshold = 0.5

    def detect(self, frames):
        time.sleep(0.12)  # 8 fps against a 30 fps stream
        return [Detections.empty() for _ in frames]

    def close(self) -> None:
        pass


@pytest.mark.timeout(SOAK_S + 40)
def test_latency_stays_flat_when_detection_is_slower_than_the_stream() -> None:
    stop = threading.Event()
    source = open_source("rtp://127.0.0.1:0?codec=h265")
    sender = threading.Thread(target=run_sender, args=("demo:", "127.0.0.1", source.port, "h265"),
                              kwargs={"duration": SOAK_S + 5, "stop": stop}, daemon=True)
    samples: list[tuple[float, float]] = []
    backlogs: list[int] = []
    with LivePipeline(source, SleepingDetector()) as pipeline:
        sender.start()
        last = 0
        started = time.monotonic()
        while time.monotonic() - started < SOAK_S:
            result = pipeline.wait_result(last, timeout=1.0)
            if result is not None:
                last = result.sequence
                samples.append((time.monotonic() - started, result.latency_ms))
                counts = pipeline.stats()
                backlogs.append(counts["frames_in"] - counts["frames_processed"] - counts["frames_skipped"])
        stats = pipeline.stats()
        stop.set()
    sender.join(timeout=5)
    latencies = np.array([latency for moment, latency in samples if moment > 1.0])
    thirds = np.array_split(latencies, 3)
    medians = [float(np.median(part)) for part in thirds]
    print(f"{SOAK_S:g} s: {len(samples)} results, {stats['frames_skipped']} frames skipped, latency medians by third "
          f"{[round(m, 1) for m in medians]} ms, p95 {np.percentile(latencies, 95):.1f} ms")
    assert len(samples) >= 10 and stats["frames_skipped"] > stats["frames_processed"]
    assert max(backlogs) <= 2, max(backlogs)  # at most the pending frame and the one in the detector: no queue
