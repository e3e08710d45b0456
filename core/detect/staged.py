"""The stages of a `StagedDetector`: resize on the CPU, the network (`infer`), decode and NMS; run together as
`detect`, or timed one by one as `detect_timed` (what the live pipeline shows per frame)."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.detect.base import Detections, Detector, StagedDetector
from core.detect.postprocess import postprocess
from core.detect.preprocess import preprocess_batch

Infer = Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]
STAGES = ("preprocess", "infer", "postprocess")  # resize, network with normalization, decode + NMS
StageTimes = dict[str, float]  # stage -> milliseconds


def network_stage(detector: Detector) -> Infer | None:
    """The detector's network stage if it is a `StagedDetector`, or None for a detector that runs as one call."""
    return detector.infer if isinstance(detector, StagedDetector) else None


def detect_in_stages(infer: Infer, frames: Sequence[np.ndarray], score_threshold: float, *,
                     clock: Callable[[], float] = time.perf_counter,
                     timings: StageTimes | None = None) -> list[Detections]:
    """Detections for `frames`; with `timings`, also fills in the preprocess/infer/postprocess milliseconds."""
    if not frames:
        return []
    started = clock()
    resized, sizes = preprocess_batch(frames)
    preprocessed = clock()
    scores, boxes = infer(resized)
    inferred = clock()
    detections = postprocess(scores, boxes, sizes, score_threshold)
    if timings is not None:
        timings.update(preprocess=(preprocessed - started) * 1000.0, infer=(inferred - preprocessed) * 1000.0,
                       postprocess=(clock() - inferred) * 1000.0)
    return detections


def detect_timed(detector: Detector, frames: Sequence[np.ndarray], *,
                 clock: Callable[[], float] = time.perf_counter) -> tuple[list[Detections], StageTimes]:
    """Detections for `frames` and the milliseconds of each of `STAGES`. A `StagedDetector` is run stage by stage;
    any other detector is timed as one call under "infer", with its other stages 0."""
    infer = network_stage(detector)
    if infer is None or not frames:
        started = clock()
        detections = detector.detect(frames)
        return detections, {"preprocess": 0.0, "infer": (clock() - started) * 1000.0, "postprocess": 0.0}
    timings: StageTimes = {}
    detections = detect_in_stages(infer, frames, detector.score_threshold, clock=clock, timings=timings)
    return detections, timings
