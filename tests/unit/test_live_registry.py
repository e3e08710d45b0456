"""PipelineRegistry: one pipeline per URI, nothing left open when a start fails, starts outside the registry's lock,
a cap on simultaneous pipelines, and failed pipelines replaced on the next acquire."""
from __future__ import annotations

import socket
import threading

import pytest
from test_live_pipeline import BrokenSource, SlowDetector

from core.errors import UserError
from core.live import PipelineRegistry
from core.stream import open_source
from core.stream.base import FrameSource
from core.stream.sources import SourceSpec
from tests.polling import wait_for

DEMO = "demo:?width=160&height=120&fps=30"
OTHER_DEMO = "demo:?width=128&height=96&fps=30"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountingOpener:
    """`open_source` that remembers which URIs it opened."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def __call__(self, spec: SourceSpec) -> FrameSource:
        self.opened.append(spec.uri)
        return open_source(spec)


@pytest.mark.timeout(20)
def test_registry_shares_one_pipeline_per_uri_and_stops_with_the_last_viewer() -> None:
    opener = CountingOpener()
    registry = PipelineRegistry(opener)
    first = registry.acquire(DEMO)
    second = registry.acquire(DEMO)
    assert first is second and opener.opened == [DEMO] and registry.viewers(DEMO) == 2
    assert first.wait_result(0, timeout=5) is not None
    registry.release(DEMO)
    assert first.running
    registry.release(DEMO)
    assert not first.running and registry.get(DEMO) is None
    third = registry.acquire(DEMO)
    assert third is not first and len(opener.opened) == 2
    registry.stop_all()
    assert not third.running


@pytest.mark.timeout(30)
def test_a_model_that_fails_to_load_leaves_the_udp_port_free() -> None:
    uri = f"rtp://127.0.0.1:{free_udp_port()}?codec=h265"
    registry = PipelineRegistry()

    def broken_model() -> SlowDetector:
        raise RuntimeError("weights are corrupt")

    with pytest.raises(RuntimeError, match="corrupt"):
        registry.acquire(uri, broken_model)
    assert registry.get(uri) is None and registry.viewers(uri) == 0
    pipeline = registry.acquire(uri)  # binds the same port: "Address already in use" if the first start leaked it
    try:
        assert pipeline.running and registry.viewers(uri) == 1
    finally:
        registry.stop_all()


@pytest.mark.timeout(30)
def test_a_source_that_fails_to_open_closes_the_loaded_model() -> None:
    detector = SlowDetector(0.0)

    def refuse(uri: str) -> FrameSource:
        raise UserError(f"cannot open {uri}")

    registry = PipelineRegistry(refuse)
    with pytest.raises(UserError, match="cannot open"):
        registry.acquire(DEMO, lambda: detector)
    assert detector.closed and registry.get(DEMO) is None and registry.viewers(DEMO) == 0


@pytest.mark.timeout(40)
def test_a_slow_start_blocks_neither_other_uris_nor_get_and_a_second_viewer_shares_it() -> None:
    opener = CountingOpener()
    registry = PipelineRegistry(opener)
    loading, gate, loaded = threading.Event(), threading.Event(), threading.Event()
    models: list[SlowDetector] = []

    def slow_model() -> SlowDetector:
        loading.set()
        assert gate.wait(timeout=20)
        models.append(SlowDetector(0.0))
        loaded.set()
        return models[-1]

    got: dict[str, object] = {}
    first = threading.Thread(target=lambda: got.setdefault("first", registry.acquire(DEMO, slow_model)))
    second = threading.Thread(target=lambda: got.setdefault("second", registry.acquire(DEMO, slow_model)))
    try:
        first.start()
        assert loading.wait(timeout=10)
        second.start()
        # while the model is still loading (gate closed), the registry answers and starts other URIs
        assert registry.get(DEMO) is None and registry.viewers(DEMO) == 0
        other = registry.acquire(OTHER_DEMO)
        assert other.running and registry.get(OTHER_DEMO) is other
        assert not loaded.is_set() and "second" not in got
        gate.set()
        first.join(timeout=20)
        second.join(timeout=20)
        assert got["first"] is got["second"] and registry.viewers(DEMO) == 2
        assert len(models) == 1 and opener.opened.count(DEMO) == 1
    finally:
        gate.set()
        registry.stop_all()


@pytest.mark.timeout(30)
def test_at_most_max_pipelines_and_a_refused_acquire_opens_nothing() -> None:
    opener = CountingOpener()
    registry = PipelineRegistry(opener, max_pipelines=1)
    models: list[SlowDetector] = []
    try:
        registry.acquire(DEMO)
        with pytest.raises(UserError, match="at most 1 live streams at once"):
            registry.acquire(OTHER_DEMO, lambda: models.append(SlowDetector(0.0)) or models[-1])
        assert opener.opened == [DEMO] and models == [] and registry.get(OTHER_DEMO) is None
        assert registry.acquire(DEMO) is registry.get(DEMO)  # another viewer of a running stream is no new one
        registry.release(DEMO)
        registry.release(DEMO)
        assert registry.acquire(OTHER_DEMO).running
    finally:
        registry.stop_all()


@pytest.mark.timeout(30)
def test_a_failed_pipeline_is_replaced_on_the_next_acquire_and_keeps_its_viewers(monkeypatch) -> None:
    monkeypatch.setattr("core.live.pipeline.SOURCE_RETRY_DELAY_S", 0.01)
    sources: list[FrameSource] = []

    def broken_then_demo(uri: str) -> FrameSource:
        sources.append(BrokenSource() if not sources else open_source(DEMO))
        return sources[-1]

    registry = PipelineRegistry(broken_then_demo)
    try:
        failed = registry.acquire("camera:")
        assert registry.acquire("camera:") is failed
        assert wait_for(lambda: failed.state == "failed")
        assert sources[0].closed  # a failed pipeline releases its source at once
        replacement = registry.acquire("camera:")
        assert replacement is not failed and replacement.running and registry.viewers("camera:") == 3
        assert replacement.wait_result(0, timeout=10) is not None
    finally:
        registry.stop_all()


@pytest.mark.timeout(30)
def test_new_settings_on_a_bound_port_rebuild_its_receiver_in_place() -> None:
    from core.live.viewer import Viewer

    port = free_udp_port()
    old, new = f"rtp://127.0.0.1:{port}?codec=h265", f"rtp://127.0.0.1:{port}?codec=auto"
    registry = PipelineRegistry(max_pipelines=1)  # a rebuild replaces the port's pipeline: no second one counts
    first, second = Viewer(registry), Viewer(registry)
    try:
        displaced = first.watch(old)
        rebuilt = second.watch(new)  # "Address already in use" if the old socket were still open
        assert not displaced.running and displaced.source.health.state == "stopped"
        assert registry.get(old) is None and registry.successor(old) == new and registry.viewers(new) == 2
        first.touch()  # the first viewer's page follows its port to the new settings
        assert first.uri == new and first.pipeline is rebuilt
        assert registry.acquire(old) is not rebuilt and registry.successor(new) == old  # and back again
        registry.release(old)
        assert registry.viewers(old) == 2
        first.close()
        second.close()
        assert registry.get(old) is None and registry.get(new) is None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", port))  # nothing holds the port any more
    finally:
        registry.stop_all()


@pytest.mark.timeout(30)
def test_a_viewer_arriving_while_the_last_one_leaves_gets_the_port_once_it_is_free(monkeypatch) -> None:
    """The last viewer's release stops the pipeline outside the lock (closing its socket takes a moment): a viewer
    of the same URI arriving meanwhile waits for the stop instead of failing with "Address already in use"."""
    from core.live.pipeline import LivePipeline

    uri = f"rtp://127.0.0.1:{free_udp_port()}?codec=h265"
    registry = PipelineRegistry()
    first = registry.acquire(uri)
    stopping, may_close = threading.Event(), threading.Event()
    original_stop = LivePipeline.stop

    def slow_stop(pipeline: LivePipeline) -> None:
        if pipeline is first:
            stopping.set()
            may_close.wait(10)
        original_stop(pipeline)

    monkeypatch.setattr(LivePipeline, "stop", slow_stop)
    leaving = threading.Thread(target=registry.release, args=(uri,))
    leaving.start()
    assert stopping.wait(10)
    arrived: list = []
    arriving = threading.Thread(target=lambda: arrived.append(registry.acquire(uri)))
    arriving.start()
    arriving.join(0.5)
    assert arriving.is_alive() and registry.get(uri) is None  # waiting for the old pipeline to stop
    may_close.set()
    leaving.join(10)
    arriving.join(10)
    try:
        assert len(arrived) == 1 and arrived[0] is not first and arrived[0].running and registry.viewers(uri) == 1
    finally:
        registry.stop_all()
