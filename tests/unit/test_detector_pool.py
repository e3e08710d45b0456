"""The detector pool, the one cache of loaded models: a model a stopped pipeline gives back is lent to the next user
asking for it (a source switch loads no model; the Detect page borrows the Live page's model), one user per model at
a time, idle models closed after a while or when too many wait."""
from __future__ import annotations

import pytest
from test_live_viewer import BoxDetector

from core.config import load_settings
from core.detect.pool import DetectorPool
from core.live import PipelineRegistry
from core.live.service import LiveService
from core.live.viewer import Viewer
from tests.polling import wait_for


class Loads:
    """A model loader that counts its loads."""

    def __init__(self) -> None:
        self.made: list[BoxDetector] = []

    def __call__(self) -> BoxDetector:
        self.made.append(BoxDetector())
        return self.made[-1]


def test_a_returned_model_is_lent_again_and_one_pipeline_uses_it_at_a_time() -> None:
    pool, load = DetectorPool(keep_s=60), Loads()
    first = pool.lend("model", load)
    second = pool.lend("model", load)  # the first is in use: a model of its own
    assert len(load.made) == 2 and first.class_names == ["BACKGROUND", "a", "b"]
    first.close()
    first.close()  # closing twice gives it back once
    assert pool.kept() == 1 and not load.made[0].closed
    again = pool.lend("model", load)
    assert again.detector is load.made[0] and len(load.made) == 2 and pool.reused == 1
    assert pool.lend("other model", load).detector is load.made[2]
    for lent in (second, again):
        lent.close()


def test_a_model_lent_for_a_with_block_is_given_back_at_its_end_and_lent_to_the_live_service() -> None:
    pool, load = DetectorPool(keep_s=60), Loads()
    with pool.lend("model", load) as detector:  # a Detect page's request
        assert detector.class_names == ["BACKGROUND", "a", "b"] and pool.kept() == 0
    assert pool.kept() == 1 and not load.made[0].closed
    service = LiveService(load_settings({}), detectors=pool)
    try:
        assert service.detectors.lend("model", load).detector is load.made[0] and len(load.made) == 1
    finally:
        service.close()


def test_idle_models_are_closed_after_a_while_and_beyond_the_cap() -> None:
    pool, load = DetectorPool(keep_s=0.05, max_kept=1), Loads()
    first, second = pool.lend("a", load), pool.lend("b", load)
    first.close()
    second.close()  # two waiting, one allowed: the older is closed
    assert load.made[0].closed and not load.made[1].closed and pool.kept() == 1
    assert wait_for(lambda: load.made[1].closed and pool.kept() == 0)


@pytest.mark.timeout(30)
def test_switching_source_reuses_the_model() -> None:
    pool, load = DetectorPool(keep_s=60), Loads()
    registry = PipelineRegistry()
    viewer = Viewer(registry, detectors=pool)
    try:
        for uri in ("demo:?width=64&height=48&fps=30", "demo:?width=80&height=60&fps=30"):
            viewer.request(uri, load, "model")
            assert wait_for(lambda: not viewer.starting and viewer.uri == uri and viewer.pipeline.running)
        assert len(load.made) == 1 and pool.reused == 1 and viewer.pipeline.detector.detector is load.made[0]
    finally:
        viewer.close()
    assert pool.kept() == 1 and not load.made[0].closed  # waiting for the next pipeline
