"""LivePipeline on the demo source: latest-frame-wins, stage timings, detector hot swap, shared registry."""
from __future__ import annotations

import time

import numpy as np
import pytest

from core.detect import DetectorSpec, load_detector
from core.detect.base import Detections
from core.live import LivePipeline, PipelineRegistry
from core.stream import open_source


class SlowDetector:
    """Finds one fixed box after sleeping `seconds` (a model slower than the stream)."""

    backend, precision, device = "fake", "fp32", "cpu"
    class_names = ["BACKGROUND", "thing"]
    score_threshold = 0.5

    def __init__(self, seconds: float, name: str = "slow") -> None:
        self.seconds, self.name, self.closed, self.calls = seconds, name, False, 0

    def detect(self, frames):
        time.sleep(self.seconds)
        self.calls += 1
        return [Detections(np.array([[10, 10, 50, 50]], np.float32), np.array([0.9], np.float32),
                           np.array([1])) for _ in frames]

    def close(self) -> None:
        self.closed = True


@pytest.mark.timeout(20)
def test_slow_detector_skips_frames_instead_of_queueing_them() -> None:
    detector = SlowDetector(0.1)
    with LivePipeline(open_source("demo:?width=320&height=240&fps=30"), detector) as pipeline:
        time.sleep(3.0)
        stats = pipeline.stats()
        result = pipeline.latest()
    assert detector.closed
    assert 6 <= stats["fps_processed"] <= 11  # bounded by the 100 ms detector
    assert stats["frames_skipped"] > stats["frames_processed"]  # most frames were dropped, not queued
    assert stats["latency_ms"]["p95"] < 100 + 2 * 34 + 30  # inference + at most ~one frame of waiting
    assert result is not None and len(result.detections) == 1
    assert not np.array_equal(result.image, result.frame.image)  # the box was drawn


@pytest.mark.timeout(60)
def test_real_detector_gets_per_stage_timings_and_hot_swap_keeps_the_stream(random_model) -> None:
    weights, labels = random_model
    detector = load_detector(DetectorSpec(weights, labels, backend="torch", device="cpu", threads=1))
    with LivePipeline(open_source("demo:?width=320&height=240&fps=15"), detector) as pipeline:
        first = pipeline.wait_result(0, timeout=20)
        assert first is not None and first.detections is not None
        deadline = time.monotonic() + 20
        while pipeline.stats()["frames_processed"] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        stages = pipeline.stats()["stages_ms"]
        assert {"receive", "decode", "wait", "preprocess", "infer", "postprocess", "draw"} <= set(stages)
        assert stages["infer"]["p50"] > 0 and stages["preprocess"]["p50"] > 0
        replacement = SlowDetector(0.01, name="swapped")
        pipeline.set_detector(replacement)
        deadline = time.monotonic() + 20
        while replacement.calls < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = pipeline.stats()
        frames_before_swap = first.frame.index
    assert detector._model is None  # the old detector was closed by the pipeline (torch backend releases it)
    assert replacement.calls >= 3 and replacement.closed
    assert stats["detector"]["name"] == "swapped" and stats["detector_swaps"] == 1
    assert stats["source"]["frames_decoded"] > frames_before_swap and stats["source"]["no_signal_events"] == 0


@pytest.mark.timeout(20)
def test_registry_shares_one_pipeline_per_uri_and_stops_with_the_last_viewer() -> None:
    opened: list[str] = []

    def open_counting(uri: str):
        opened.append(uri)
        return open_source(uri)

    registry = PipelineRegistry(open_counting)
    uri = "demo:?width=160&height=120&fps=30"
    first = registry.acquire(uri)
    second = registry.acquire(uri)
    assert first is second and opened == [uri] and registry.viewers(uri) == 2
    assert first.wait_result(0, timeout=5) is not None
    registry.release(uri)
    assert first.running
    registry.release(uri)
    assert not first.running and registry.get(uri) is None
    third = registry.acquire(uri)
    assert third is not first and len(opened) == 2
    registry.stop_all()
    assert not third.running
