"""`EvalRecords`: the ground truth and detections of an evaluated image set as flat arrays, what the metrics read.

Each box row carries the index of its image, so the metrics group and match with numpy instead of per-image loops.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class EvalRecords:
    """Boxes are float pixel x1,y1,x2,y2 of their image; labels index `class_names` (0 is BACKGROUND)."""

    class_names: list[str]
    image_sizes: np.ndarray  # (I, 2) width, height
    gt_image: np.ndarray  # (G,) int64
    gt_boxes: np.ndarray  # (G, 4) float64
    gt_labels: np.ndarray  # (G,) int64
    det_image: np.ndarray  # (D,) int64
    det_boxes: np.ndarray  # (D, 4) float64
    det_scores: np.ndarray  # (D,) float64
    det_labels: np.ndarray  # (D,) int64

    @property
    def num_images(self) -> int:
        return int(self.image_sizes.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def gt_counts(self) -> np.ndarray:
        """Ground-truth boxes per class id, (C,)."""
        return np.bincount(self.gt_labels, minlength=self.num_classes)

    def det_counts(self) -> np.ndarray:
        """Detections per class id, (C,)."""
        return np.bincount(self.det_labels, minlength=self.num_classes)


@dataclass
class RecordsBuilder:
    """Collects one image at a time, then `build()`s the flat `EvalRecords`."""

    class_names: list[str]
    _sizes: list[tuple[int, int]] = field(default_factory=list)
    _gt: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    _det: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def add(self, *, width: int, height: int, gt_boxes: np.ndarray, gt_labels: np.ndarray, det_boxes: np.ndarray,
            det_scores: np.ndarray, det_labels: np.ndarray) -> None:
        self._sizes.append((int(width), int(height)))
        self._gt.append((np.asarray(gt_boxes, np.float64).reshape(-1, 4), np.asarray(gt_labels, np.int64).ravel()))
        self._det.append((np.asarray(det_boxes, np.float64).reshape(-1, 4),
                          np.asarray(det_scores, np.float64).ravel(), np.asarray(det_labels, np.int64).ravel()))

    def build(self) -> EvalRecords:
        gt_per_image = [len(labels) for _, labels in self._gt]
        det_per_image = [len(labels) for _, _, labels in self._det]
        images = np.arange(len(self._sizes), dtype=np.int64)
        return EvalRecords(
            class_names=list(self.class_names),
            image_sizes=np.asarray(self._sizes, np.int64).reshape(-1, 2),
            gt_image=np.repeat(images, gt_per_image),
            gt_boxes=_concatenate([boxes for boxes, _ in self._gt], (0, 4), np.float64),
            gt_labels=_concatenate([labels for _, labels in self._gt], (0,), np.int64),
            det_image=np.repeat(images, det_per_image),
            det_boxes=_concatenate([boxes for boxes, _, _ in self._det], (0, 4), np.float64),
            det_scores=_concatenate([scores for _, scores, _ in self._det], (0,), np.float64),
            det_labels=_concatenate([labels for _, _, labels in self._det], (0,), np.int64),
        )


def _concatenate(parts: list[np.ndarray], empty_shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(empty_shape, dtype)
