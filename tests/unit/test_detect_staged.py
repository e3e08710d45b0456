"""Stage timing as a capability of the Detector contract: a `StagedDetector` is run and timed stage by stage
(resize, network, decode + NMS) with the same detections as `detect`; any other detector is timed as one call."""
from __future__ import annotations

import itertools

import numpy as np

from core.detect import DetectorSpec, load_detector
from core.detect.base import Detections
from core.detect.staged import STAGES, detect_timed, network_stage


def _ticks(step_s: float = 0.001):
    """A clock that advances `step_s` at every reading."""
    counter = itertools.count()
    return lambda: next(counter) * step_s


class OneCallDetector:
    """Runs as one call (like a frames model on a server): no network stage of its own."""

    name, backend, precision, device = "remote", "fake", "fp32", "remote"
    class_names = ["BACKGROUND", "thing"]
    score_threshold = 0.5

    def detect(self, frames):
        return [Detections(np.array([[1, 2, 3, 4]], np.float32), np.array([0.9], np.float32), np.array([1]))
                for _ in frames]

    def close(self) -> None: ...


def test_a_staged_backend_is_timed_stage_by_stage_with_the_detections_of_detect(random_model, frames):
    weights, labels = random_model
    detector = load_detector(DetectorSpec(weights, labels, backend="onnxruntime", device="cpu", threads=1))
    try:
        assert network_stage(detector) == detector.infer
        detections, timings = detect_timed(detector, frames[:2], clock=_ticks())
        expected = detector.detect(frames[:2])
    finally:
        detector.close()
    assert timings == {"preprocess": 1.0, "infer": 1.0, "postprocess": 1.0}  # one clock step each
    assert tuple(timings) == STAGES
    for got, want in zip(detections, expected, strict=True):
        np.testing.assert_array_equal(got.boxes, want.boxes)
        np.testing.assert_array_equal(got.labels, want.labels)


def test_a_detector_without_stages_is_timed_as_one_call():
    detector = OneCallDetector()
    assert network_stage(detector) is None
    detections, timings = detect_timed(detector, [np.zeros((8, 8, 3), np.uint8)], clock=_ticks())
    assert len(detections) == 1 and len(detections[0]) == 1
    assert timings == {"preprocess": 0.0, "infer": 1.0, "postprocess": 0.0}
