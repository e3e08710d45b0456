"""Per-viewer view of a shared pipeline: filters, drawing, no-signal placeholder, source switching, idle release,
the per-pipeline monitor, supervised monitor and janitor threads, restart of a failed pipeline, WebRTC settings and
the password check."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from test_live_pipeline import BrokenSource

from core.config import load_settings
from core.detect.base import Detections
from core.errors import UserError
from core.live import PipelineRegistry
from core.live.monitor import Monitors, PipelineMonitor
from core.live.pipeline import LiveResult
from core.live.snapshot import jpeg_data_uri, snapshot_png
from core.live.viewer import Cursor, Janitor, ViewFilter, Viewer, render_view, signal_text
from core.live.webrtc import ice_servers
from core.stream import open_source
from core.stream.base import Frame
from tests.polling import wait_for

NAMES = ["BACKGROUND", "a", "b"]


class BoxDetector:
    """Two fixed boxes: class a (score 0.9) on the left, class b (score 0.3) on the right."""

    backend, precision, device, name = "fake", "fp32", "cpu", "boxes"
    class_names = NAMES
    score_threshold = 0.1

    def __init__(self) -> None:
        self.calls, self.closed = 0, False

    def detect(self, frames):
        self.calls += len(frames)
        return [Detections(np.array([[10, 10, 60, 60], [100, 10, 150, 60]], np.float32),
                           np.array([0.9, 0.3], np.float32), np.array([1, 2])) for _ in frames]

    def close(self) -> None:
        self.closed = True


def _result() -> LiveResult:
    image = np.zeros((120, 200, 3), np.uint8)
    return LiveResult(Frame(image, 0.0, time.monotonic(), 0), BoxDetector().detect([image])[0])


def test_view_filter_draws_only_what_this_viewer_keeps() -> None:
    result = _result()
    both = render_view(result, ViewFilter(min_score=0.2), NAMES)
    confident = render_view(result, ViewFilter(min_score=0.5), NAMES)
    only_b = render_view(result, ViewFilter(min_score=0.2, classes=frozenset({2})), NAMES)
    left, right = (slice(None), slice(0, 90)), (slice(None), slice(95, 200))
    assert both[left].any() and both[right].any()
    assert confident[left].any() and not confident[right].any()
    assert not only_b[left].any() and only_b[right].any()
    assert not result.frame.image.any()  # the shared frame is never drawn on


def test_signal_text() -> None:
    assert signal_text("waiting", None) == "WAITING FOR STREAM"
    assert signal_text("waiting_keyframe", None) == "WAITING FOR A KEYFRAME"
    assert signal_text("no_signal", 3.4) == "NO SIGNAL 3 s"
    assert signal_text("ended", 1.0) == "STREAM ENDED"


@pytest.mark.timeout(30)
def test_viewers_share_one_pipeline_and_release_it() -> None:
    registry = PipelineRegistry()
    detectors: list[BoxDetector] = []

    def make() -> BoxDetector:
        detectors.append(BoxDetector())
        return detectors[-1]

    first, second = Viewer(registry), Viewer(registry)
    uri = "demo:?width=200&height=120&fps=30"
    try:
        assert first.watch(uri, make) is second.watch(uri, make)
        assert len(detectors) == 1 and registry.viewers(uri) == 2
        first.filter, second.filter = ViewFilter(0.5), ViewFilter(0.2)
        image_a, cursor_a = first.next_image(Cursor(), 5.0)
        image_b, cursor_b = second.next_image(Cursor(), 5.0)
        assert image_a is not None and image_b is not None and cursor_a.sequence > 0 and cursor_b.sequence > 0
        assert not image_a[10:60, 100:150].any() or image_b[10:60, 100:150].sum() > image_a[10:60, 100:150].sum()
        assert snapshot_png(first).startswith(b"\x89PNG")
        assert jpeg_data_uri(image_a).startswith("data:image/jpeg;base64,/9j/")
        first.watch("demo:?width=160&height=120&fps=30", make)  # switching source releases the old one
        assert registry.viewers(uri) == 1
        second.close()
        assert registry.get(uri) is None and detectors[0].closed
    finally:
        first.close()
        second.close()
    assert registry.get("demo:?width=160&height=120&fps=30") is None


@pytest.mark.timeout(30)
def test_idle_viewer_releases_its_pipeline_and_resumes_on_touch() -> None:
    registry = PipelineRegistry()
    now = [0.0]
    viewer = Viewer(registry, clock=lambda: now[0], idle_release=30.0)
    uri = "demo:?width=160&height=120&fps=30"
    try:
        viewer.watch(uri, BoxDetector)
        now[0] = 10.0
        assert not viewer.release_if_idle()
        now[0] = 41.0
        assert viewer.release_if_idle()
        assert registry.get(uri) is None and viewer.pipeline is None
        viewer.touch()
        assert viewer.pipeline is not None and registry.viewers(uri) == 1
    finally:
        viewer.close()


class QuietSource:
    """A source that never delivers a frame but has seen data once (a sender that stopped)."""

    uri = "quiet:"

    def __init__(self) -> None:
        from core.stream.base import SourceHealth

        self.health = SourceHealth(state="no_signal", seconds_since_data=4.0)
        self.ended = False

    def read(self, timeout=None):
        time.sleep(timeout or 0)
        return None

    def close(self) -> None:
        self.ended = True

    def health_snapshot(self) -> dict:
        return self.health.snapshot()


@pytest.mark.timeout(20)
def test_no_signal_placeholder_when_the_source_is_quiet() -> None:
    registry = PipelineRegistry(open_frames=lambda uri: QuietSource())
    viewer = Viewer(registry)
    try:
        viewer.watch("quiet:")
        image, cursor = viewer.next_image(Cursor(), 0.3)
        assert image is not None and cursor.sequence == 0 and image.shape == (480, 640, 3)
        assert (image[:, :, 2] > image[:, :, 0] + 50).any()  # the red "NO SIGNAL" text
    finally:
        viewer.close()


@pytest.mark.timeout(30)
def test_monitor_counts_detections_per_class_with_a_viewer_filter() -> None:
    registry = PipelineRegistry()
    viewer = Viewer(registry)
    try:
        pipeline = viewer.watch("demo:?width=160&height=120&fps=30", BoxDetector)
        monitors = Monitors()
        monitor = monitors.for_pipeline(pipeline)
        assert monitors.for_pipeline(pipeline) is monitor
        assert wait_for(lambda: monitor.class_counts().get(1, {}).get("frames", 0) >= 10 and monitor.history())
        counts = monitor.class_counts()
        assert set(counts) == {1, 2} and counts[1]["detections"] == counts[1]["frames"] >= 10
        assert set(monitor.class_counts(min_score=0.5)) == {1}
        assert monitor.class_counts(classes=frozenset({2}))[2]["best_score"] == pytest.approx(0.3)
        history = monitor.history()
        assert history and history[-1].state == "live"
    finally:
        viewer.close()
    assert wait_for(lambda: not monitor.alive)
    assert monitor.stats() == {"thread_errors": 0, "restarts": 0}
    assert monitors.for_pipeline(pipeline) is not monitor  # forgotten when its pipeline stopped


@pytest.mark.timeout(30)
def test_monitor_survives_an_error_and_counts_it(monkeypatch) -> None:
    registry = PipelineRegistry()
    viewer = Viewer(registry)
    try:
        pipeline = viewer.watch("demo:?width=160&height=120&fps=30", BoxDetector)
        real_stats, calls = pipeline.stats, [0]

        def stats_failing_once() -> dict:
            calls[0] += 1
            if calls[0] == 1:
                raise RuntimeError("stats broke")
            return real_stats()

        monkeypatch.setattr(pipeline, "stats", stats_failing_once)
        monitor = PipelineMonitor(pipeline, period=0.05)
        assert wait_for(lambda: len(monitor.history()) >= 2)
        assert monitor.alive and monitor.stats() == {"thread_errors": 1, "restarts": 1}
    finally:
        viewer.close()
    assert wait_for(lambda: not monitor.alive)


class IdleViewer:
    """Stands in for a Viewer in the janitor: idle (released on the first sweep), or raising when asked."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.asked = fail, 0

    def release_if_idle(self) -> bool:
        self.asked += 1
        if self.fail:
            raise RuntimeError("release failed")
        return True


@pytest.mark.timeout(20)
def test_janitor_survives_a_viewer_that_raises_and_releases_the_others() -> None:
    janitor = Janitor(period=0.01)
    broken, idle = IdleViewer(fail=True), IdleViewer()
    janitor.add(broken)  # type: ignore[arg-type]
    janitor.add(idle)  # type: ignore[arg-type]
    assert wait_for(lambda: idle.asked == 1 and janitor.watching() == 0 and janitor.stats()["restarts"] == 1)
    assert janitor.stats()["thread_errors"] == 1
    assert broken.asked == 1  # taken out before it was asked: not asked again every sweep


@pytest.mark.timeout(30)
def test_touch_starts_a_failed_pipeline_again(monkeypatch) -> None:
    monkeypatch.setattr("core.live.pipeline.SOURCE_RETRY_DELAY_S", 0.01)
    opened: list[str] = []

    def broken_then_demo(uri: str):
        opened.append(uri)
        return BrokenSource() if len(opened) == 1 else open_source("demo:?width=160&height=120&fps=30")

    registry = PipelineRegistry(broken_then_demo)
    viewer = Viewer(registry)
    try:
        failed = viewer.watch("camera:", BoxDetector)
        assert wait_for(lambda: failed.state == "failed")
        viewer.touch()
        assert viewer.pipeline is not failed and viewer.pipeline.running and registry.viewers("camera:") == 1
        assert viewer.next_image(Cursor(), 10.0)[1].sequence > 0
    finally:
        viewer.close()
    assert registry.get("camera:") is None


@pytest.mark.timeout(30)
def test_switching_source_at_the_pipeline_cap_releases_first() -> None:
    registry = PipelineRegistry(max_pipelines=1)
    viewer = Viewer(registry)
    try:
        viewer.watch("demo:?width=160&height=120&fps=30")
        assert viewer.watch("demo:?width=128&height=96&fps=30").running
        assert registry.get("demo:?width=160&height=120&fps=30") is None
        with pytest.raises(UserError, match="at most 1"):
            Viewer(registry).watch("demo:?width=160&height=120&fps=30")
    finally:
        viewer.close()


@pytest.mark.timeout(30)
def test_switching_source_shows_the_new_source_at_once() -> None:
    """A consumer that has seen many results of the first source gets the second source's first result, not a
    "no signal" picture until the new source's count passes the old one's."""
    registry = PipelineRegistry()
    viewer = Viewer(registry)
    try:
        viewer.watch("demo:?width=64&height=48&fps=60")
        cursor = Cursor()
        while cursor.sequence < 40:
            image, cursor = viewer.next_image(cursor, 5.0)
            assert image is not None and image.shape == (48, 64, 3)
        viewer.watch("demo:?width=80&height=60&fps=10")
        shapes, sequences = [], []
        for _ in range(3):
            image, cursor = viewer.next_image(cursor, 5.0)
            shapes.append(image.shape)
            sequences.append(cursor.sequence)
        assert shapes == [(60, 80, 3)] * 3 and sequences == [1, 2, 3]  # the new source's frames, from its first
    finally:
        viewer.close()


def test_ice_servers_setting() -> None:
    assert ice_servers(load_settings({}).ice_servers) == []  # a LAN install contacts no STUN/TURN server
    setting = load_settings({"EDS_ICE_SERVERS": "stun:10.0.0.1:3478, turn:10.0.0.2"}).ice_servers
    assert ice_servers(setting) == [{"urls": ["stun:10.0.0.1:3478"]}, {"urls": ["turn:10.0.0.2"]}]
    assert ice_servers('[{"urls": ["stun:h:1"]}]') == [{"urls": ["stun:h:1"]}]
    with pytest.raises(UserError):
        ice_servers("[{")
    with pytest.raises(UserError):
        ice_servers('[{"url": "x"}]')


@pytest.mark.timeout(30)
def test_overlapping_watches_keep_the_newest_source_and_hold_nothing_else() -> None:
    registry = PipelineRegistry()
    viewer = Viewer(registry)
    loading, gate = threading.Event(), threading.Event()

    def slow_model() -> BoxDetector:
        loading.set()
        assert gate.wait(timeout=20)
        return BoxDetector()

    old, new = "demo:?width=160&height=120&fps=30", "demo:?width=128&height=96&fps=30"
    older_run = threading.Thread(target=viewer.watch, args=(old, slow_model))
    try:
        older_run.start()
        assert loading.wait(timeout=10)
        viewer.watch(new, BoxDetector)  # a newer rerun of the page picks another source while the old one loads
        gate.set()
        older_run.join(timeout=20)
        assert viewer.uri == new and registry.viewers(new) == 1
        assert registry.get(old) is None and registry.viewers(old) == 0
    finally:
        gate.set()
        viewer.close()
    assert registry.get(new) is None


@pytest.mark.timeout(30)
def test_request_returns_at_once_and_says_starting_until_the_pipeline_is_up() -> None:
    registry = PipelineRegistry()
    viewer = Viewer(registry)
    gate = threading.Event()
    loads: list[int] = []

    def slow_model() -> BoxDetector:
        loads.append(1)
        assert gate.wait(timeout=20)
        return BoxDetector()

    uri = "demo:?width=64&height=48&fps=30"
    try:
        viewer.request(uri, slow_model, "slow")
        viewer.request(uri, slow_model, "slow")  # asked again on the next page run: nothing new
        for _ in range(3):
            viewer.touch()  # the health panel: no second start while the request is under way
        assert viewer.starting and viewer.pipeline is None and loads == [1]
        image, cursor = viewer.next_image(Cursor(), 0.05)
        assert image is not None and image.shape == (480, 640, 3)  # the "STARTING" picture
        gate.set()
        assert wait_for(lambda: not viewer.starting and viewer.pipeline is not None)
        image, cursor = viewer.next_image(cursor, 5.0)
        assert image.shape == (48, 64, 3) and registry.viewers(uri) == 1 and loads == [1]
        first = viewer.pipeline
        viewer.request(uri, BoxDetector, "other model")  # same source, another model: swapped in place
        assert wait_for(lambda: not viewer.starting and first.detector_swaps == 1)
        assert viewer.pipeline is first and viewer.request_error is None
    finally:
        gate.set()
        viewer.close()


@pytest.mark.timeout(30)
def test_a_failed_request_is_reported_and_asking_again_retries() -> None:
    attempts: list[str] = []

    def refuse_once(uri: str):
        attempts.append(uri)
        if len(attempts) == 1:
            raise UserError("cannot listen on UDP 0.0.0.0:5000: Address already in use")
        return open_source("demo:?width=64&height=48&fps=30")

    viewer = Viewer(PipelineRegistry(refuse_once))
    try:
        viewer.request("camera:", BoxDetector, "model")
        assert wait_for(lambda: not viewer.starting)
        assert viewer.request_error == "cannot listen on UDP 0.0.0.0:5000: Address already in use"
        assert viewer.pipeline is None and viewer.next_image(Cursor(), 0.05)[0] is None
        viewer.request("camera:", BoxDetector, "model")
        assert wait_for(lambda: not viewer.starting and viewer.pipeline is not None)
        assert viewer.request_error is None and len(attempts) == 2
    finally:
        viewer.close()


@pytest.mark.timeout(30)
def test_a_model_that_failed_to_swap_in_is_swapped_in_when_asked_again() -> None:
    attempts: list[int] = []

    def unreachable_once() -> BoxDetector:
        attempts.append(1)
        if len(attempts) == 1:
            raise UserError("inference server unreachable at grpc://127.0.0.1:9: connection refused")
        return BoxDetector()

    uri = "demo:?width=64&height=48&fps=30"
    viewer = Viewer(PipelineRegistry())
    try:
        viewer.request(uri, BoxDetector, "local")
        assert wait_for(lambda: not viewer.starting and viewer.pipeline is not None)
        pipeline = viewer.pipeline
        viewer.request(uri, unreachable_once, "remote")
        assert wait_for(lambda: viewer.request_error is not None)
        assert pipeline.running and pipeline.detector_swaps == 0  # the stream goes on with the model it had
        viewer.request(uri, unreachable_once, "remote")  # the page asks again (the server is back)
        assert wait_for(lambda: pipeline.detector_swaps == 1)
        assert viewer.request_error is None and viewer.pipeline is pipeline and len(attempts) == 2
    finally:
        viewer.close()
