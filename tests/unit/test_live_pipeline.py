"""LivePipeline on the demo source: latest-frame-wins, detections drawn by the viewer (never by the pipeline),
stage timings, detector hot swap, supervised threads (errors counted, logged once, restarted; a failing source fails
the pipeline)."""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from core.detect import DetectorSpec, load_detector
from core.detect.base import Detections
from core.detect.overlay import class_colour
from core.live import LivePipeline
from core.live.pipeline import SOURCE_MAX_FAILURES
from core.live.supervise import ErrorLog, SupervisedThread
from core.live.viewer import ViewFilter, render_view
from core.stream import open_source
from core.stream.base import SourceHealth
from tests.frame_stamps import read_frame_counter
from tests.polling import wait_for, wait_until


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


class GatedDetector(SlowDetector):
    """Blocks in its first call until `gate` is set (a model far slower than the stream, under test control)."""

    def __init__(self) -> None:
        super().__init__(0.0, name="gated")
        self.entered, self.gate = threading.Event(), threading.Event()
        self.stamps: list[int] = []  # the demo frame number of each frame it was given, in order

    def detect(self, frames):
        self.stamps += [read_frame_counter(frame) for frame in frames]
        self.entered.set()
        assert self.gate.wait(timeout=15)
        return super().detect(frames)


def assert_frames_accounted_for(stats: dict) -> None:
    """Every frame in was processed, skipped for a newer one, or is pending / in the detector (at most 2)."""
    assert 0 <= stats["frames_in"] - stats["frames_processed"] - stats["frames_skipped"] <= 2, stats


@pytest.mark.timeout(40)
def test_slow_detector_skips_frames_instead_of_queueing_them() -> None:
    detector = GatedDetector()
    with LivePipeline(open_source("demo:?width=160&height=120&fps=30"), detector) as pipeline:
        assert detector.entered.wait(timeout=15)  # the first frame is in the (blocked) model
        arrived_while_blocked = pipeline.frames_in
        assert wait_for(lambda: pipeline.frames_in >= arrived_while_blocked + 5)
        detector.gate.set()
        assert wait_for(lambda: pipeline.frames_processed >= 3)
        stats = pipeline.stats()
    assert detector.closed and not pipeline.running and pipeline.state == "stopped"
    # the next frame detected after the blocked one is the newest, not the oldest waiting: nothing was queued
    assert detector.stamps[1] >= detector.stamps[0] + 5
    assert stats["frames_skipped"] >= 4 and stats["frames_processed"] >= 3
    assert_frames_accounted_for(stats)
    assert stats["thread_errors"] == 0 and stats["restarts"] == 0 and stats["state"] == "running"


@pytest.mark.timeout(20)
def test_a_viewer_draws_boxes_in_the_class_colour_and_nothing_else_changes() -> None:
    with LivePipeline(open_source("demo:?width=160&height=120&fps=30"), SlowDetector(0.0)) as pipeline:
        result = pipeline.wait_result(0, timeout=15)
    assert result is not None and len(result.detections) == 1
    image = render_view(result, ViewFilter(min_score=0.0), SlowDetector.class_names)
    on_left_edge = image[30, 10].astype(int)  # the box is x 10..50, y 10..50
    assert np.abs(on_left_edge - class_colour(1)).max() < 60, on_left_edge
    assert not np.array_equal(result.frame.image[30, 10], image[30, 10])  # the pipeline's frame is not drawn on
    assert np.array_equal(image[60:], result.frame.image[60:])  # below the box and its label: untouched
    assert np.array_equal(image[:, 80:], result.frame.image[:, 80:])


@pytest.mark.timeout(20)
@pytest.mark.parametrize("detector", [None, "with model"])
def test_the_pipeline_hands_over_the_frame_and_detections_and_draws_nothing(detector: str | None) -> None:
    model = SlowDetector(0.0) if detector else None
    with LivePipeline(open_source("demo:?width=160&height=120&fps=30"), model) as pipeline:
        result = pipeline.wait_result(0, timeout=15)
    assert result is not None and not hasattr(result, "image") and "draw" not in result.timings
    assert (result.detections is None) == (detector is None)
    if detector is None:  # nothing to draw: a viewer shows the frame itself
        assert render_view(result, ViewFilter(), SlowDetector.class_names) is result.frame.image


@pytest.mark.timeout(60)
def test_real_detector_gets_per_stage_timings_and_hot_swap_keeps_the_stream(random_model) -> None:
    weights, labels = random_model
    detector = load_detector(DetectorSpec(weights, labels, backend="torch", device="cpu", threads=1))
    with LivePipeline(open_source("demo:?width=320&height=240&fps=15"), detector) as pipeline:
        first = pipeline.wait_result(0, timeout=20)
        assert first is not None and first.detections is not None
        wait_until(lambda: pipeline.stats()["frames_processed"] >= 3, 20, "three frames processed")
        stages = pipeline.stats()["stages_ms"]
        assert {"receive", "decode", "wait", "preprocess", "infer", "postprocess"} <= set(stages)
        assert stages["infer"]["p50"] > 0 and stages["preprocess"]["p50"] > 0
        replacement = SlowDetector(0.01, name="swapped")
        pipeline.set_detector(replacement)
        wait_until(lambda: replacement.calls >= 3, 20, "three frames through the swapped detector")
        stats = pipeline.stats()
        frames_before_swap = first.frame.index
    assert detector._model is None  # the old detector was closed by the pipeline (torch backend releases it)
    assert replacement.calls >= 3 and replacement.closed
    assert stats["detector"]["name"] == "swapped" and stats["detector_swaps"] == 1
    assert stats["source"]["frames_decoded"] > frames_before_swap and stats["source"]["no_signal_events"] == 0


@pytest.mark.timeout(30)
def test_detect_thread_errors_are_counted_logged_once_and_the_stream_goes_on(caplog) -> None:
    failures = [0]
    pipeline = LivePipeline(open_source("demo:?width=160&height=120&fps=30"), SlowDetector(0.0))
    swap = pipeline._apply_detector_swap  # runs on the detect thread before each frame, outside the model's guard

    def swap_failing_five_times() -> None:
        if failures[0] < 5:
            failures[0] += 1
            raise ValueError("cannot hand over")
        swap()

    pipeline._apply_detector_swap = swap_failing_five_times
    with caplog.at_level(logging.ERROR, logger="core.live.pipeline"), pipeline:
        assert wait_for(lambda: pipeline.frames_processed >= 3)
        stats = pipeline.stats()
        assert pipeline.running
    assert stats["thread_errors"] == 5 and stats["restarts"] == 5 and stats["state"] == "running"
    assert stats["failure"] is None
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert len(tracebacks) == 1 and "cannot hand over" in tracebacks[0].getMessage()


class BrokenSource:
    """A source whose `read` always raises (a device unplugged, say)."""

    uri = "broken:"

    def __init__(self) -> None:
        self.reads, self.closed, self.ended = 0, False, False
        self.health = SourceHealth(state="live")

    def read(self, timeout=None):
        self.reads += 1
        raise OSError("device gone")

    def close(self) -> None:
        self.closed = True

    def health_snapshot(self) -> dict:
        return self.health.snapshot()


@pytest.mark.timeout(30)
def test_a_source_that_keeps_failing_fails_the_pipeline_and_releases_everything(monkeypatch) -> None:
    monkeypatch.setattr("core.live.pipeline.SOURCE_RETRY_DELAY_S", 0.01)
    source, detector = BrokenSource(), SlowDetector(0.0)
    pipeline = LivePipeline(source, detector).start()
    assert wait_for(lambda: pipeline.state == "failed" and source.closed and detector.closed)
    stats = pipeline.stats()
    assert not pipeline.running and pipeline.wait_result(0, timeout=1) is None
    assert source.reads == SOURCE_MAX_FAILURES + 1 and stats["thread_errors"] == SOURCE_MAX_FAILURES + 1
    assert stats["restarts"] == SOURCE_MAX_FAILURES and "device gone" in stats["failure"]
    pipeline.stop()  # safe again


def test_error_log_logs_one_traceback_then_one_summary_per_period(caplog) -> None:
    now = [0.0]
    log = ErrorLog(logging.getLogger("tests.errorlog"), "thing", every=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="tests.errorlog"):
        for step in range(30):  # 30 errors over 15 s
            now[0] = step * 0.5
            log.report(RuntimeError(f"boom {step}"))
    assert log.count == 30
    assert [bool(record.exc_info) for record in caplog.records] == [True, False]
    assert "20 more times" in caplog.records[1].getMessage() and "boom 20" in caplog.records[1].getMessage()


@pytest.mark.timeout(10)
def test_supervised_thread_restarts_until_the_target_returns_and_gives_up_past_its_budget() -> None:
    calls = [0]

    def fail_twice() -> None:
        calls[0] += 1
        if calls[0] <= 2:
            raise RuntimeError("again")

    recovering = SupervisedThread(fail_twice, name="recovering", logger=logging.getLogger("tests.supervise"))
    recovering.start().join(timeout=5)
    assert calls[0] == 3 and recovering.errors == 2 and recovering.restarts == 2 and recovering.failure is None

    ended: list[str | None] = []

    def always_fail() -> None:
        raise RuntimeError("never works")

    giving_up = SupervisedThread(always_fail, name="giving up", logger=logging.getLogger("tests.supervise"),
                                 max_failures=3, on_exit=ended.append)
    giving_up.start().join(timeout=5)
    assert not giving_up.is_alive() and giving_up.errors == 4 and giving_up.restarts == 3
    assert ended == [giving_up.failure] and "never works" in giving_up.failure
