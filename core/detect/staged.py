"""The stages every array-runtime backend shares: resize on the CPU, run the network, decode and NMS."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.detect.base import Detections
from core.detect.postprocess import postprocess
from core.detect.preprocess import preprocess_batch

Infer = Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]


def detect_in_stages(infer: Infer, frames: Sequence[np.ndarray], score_threshold: float, *,
                     clock: Callable[[], float] = time.perf_counter,
                     timings: dict[str, float] | None = None) -> list[Detections]:
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
