"""The neutral detection types every consumer sees: `Detections`, the `Detector` protocol, its stage-timing
capability `StagedDetector`, and `DetectorSpec`."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.serve.names import DEFAULT_MODEL_NAME

DEFAULT_SCORE_THRESHOLD = 0.4


@dataclass(frozen=True)
class Detections:
    """Detections in one frame: boxes (N,4) float32 pixel x1,y1,x2,y2 of the input frame, scores (N,), labels (N,).

    Labels index `class_names` of the detector (0 is BACKGROUND and never appears). Order is pytorch-ssd's
    predictor order: by ascending class, then descending score.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64))

    def filtered(self, *, min_score: float = 0.0, classes: set[int] | None = None) -> Detections:
        keep = self.scores >= min_score
        if classes is not None:
            keep &= np.isin(self.labels, list(classes))
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep])

    def by_score(self) -> Detections:
        order = np.argsort(-self.scores, kind="stable")
        return Detections(self.boxes[order], self.scores[order], self.labels[order])

    def to_records(self, class_names: Sequence[str]) -> list[dict]:
        """JSON-ready records sorted by descending score (the CLI's `detections` contract)."""
        ordered = self.by_score()
        return [
            {
                "class_id": int(label),
                "label": class_names[int(label)],
                "score": round(float(score), 6),
                "box": [round(float(v), 2) for v in box],
            }
            for box, score, label in zip(ordered.boxes, ordered.scores, ordered.labels)
        ]


@dataclass(frozen=True)
class DetectorSpec:
    """What to load: a model file (.pth, .onnx or .engine) with its labels.txt, a backend and its options."""

    weights: Path
    labels: Path
    backend: str = "torch"
    device: str = "auto"  # "auto", "cpu" or "cuda"
    precision: str = "auto"  # "auto" (what the model file is: fp32 for a .pth), "fp32", "fp16", "bf16" or "int8"
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    threads: int | None = None  # CPU threads for the runtime (None: the runtime's default)
    cuda_graph: bool | None = None  # torch: replay one captured CUDA graph per batch shape (None: on with CUDA)
    compile: bool = False  # torch on CUDA: fuse kernels with torch.compile for the warm-up batch sizes (slow load)
    warmup_batch_sizes: tuple[int, ...] = (1,)  # torch on CUDA: batch sizes run at load, so first calls are fast
    triton_url: str | None = None  # triton: the inference server, grpc://HOST:PORT
    triton_model: str = DEFAULT_MODEL_NAME  # triton: the model name on that server


class Detector(Protocol):
    name: str
    backend: str
    precision: str
    device: str
    class_names: list[str]
    score_threshold: float

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in BGR uint8 frames of any size; one `Detections` per frame, boxes in frame pixels."""
        ...

    def close(self) -> None: ...


def runs_spec(detector: Detector, spec: DetectorSpec) -> bool:
    """Whether `detector` runs what `spec` asks for: the same backend and model (on an inference server: the same
    model name there)."""
    if detector.backend != spec.backend:
        return False
    if spec.backend == "triton":
        return detector.name.startswith(f"{spec.triton_model}@")
    return detector.name == spec.weights.stem


@runtime_checkable
class StagedDetector(Detector, Protocol):
    """A detector whose network runs apart from its resize and decode, so each stage can be timed on its own.

    `infer` is the network stage: the resized (N,300,300,3) uint8 BGR batch in (normalization included), the raw
    `scores` (N,P,C) and `boxes` (N,P,4) out, as tensors or arrays. Resize is `core.detect.preprocess` and decode +
    NMS `core.detect.postprocess` for every such detector; `core.detect.staged.detect_timed` runs and times the three
    (what the live pipeline and the benchmarks call; an instance check against this protocol says which detectors
    have it). The torch, onnxruntime and tensorrt backends have it, and triton where the server runs the network
    alone; a detector without it (a frames model on a server) is timed as one call.
    """

    def infer(self, resized: np.ndarray) -> tuple[Any, Any]:
        """Raw (scores, boxes) for a resized (N,300,300,3) uint8 BGR batch."""
        ...
