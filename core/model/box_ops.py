"""Box arithmetic, the one home of IoU and NMS: SSD decoding, corner conversion, area, IoU and greedy (hard) NMS.

Boxes are x1,y1,x2,y2 corners in the last axis. Area and IoU take numpy arrays (or sequences) and torch tensors
alike and run the same operations on either, so the CPU and GPU postprocessing paths agree bit for bit in float32.
Greedy NMS has a numpy form (one small candidate list, the CPU path) and a batched torch form (many groups at once,
the GPU path). Decoding works on the network's tensors. torch is imported only by the functions that are handed
tensors, so numpy callers (dataset synthesis, VOC AP, augmentation) do not load it.
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from core.model.config import CENTER_VARIANCE, SIZE_VARIANCE

if TYPE_CHECKING:
    import torch

IOU_EPS = 1e-5  # pytorch-ssd's: added to every IoU denominator


def _array_module(boxes: Any) -> ModuleType:
    """torch for a tensor, numpy for anything else (torch is in sys.modules whenever a tensor exists)."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(boxes, torch.Tensor) else np


def _as_boxes(boxes: Any) -> Any:
    return boxes if _array_module(boxes) is not np else np.asarray(boxes)


def decode_locations(locations: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Regression outputs (..., P, 4) + center-form priors (P, 4) -> center-form boxes (..., P, 4)."""
    import torch

    centers = locations[..., :2] * CENTER_VARIANCE * priors[..., 2:] + priors[..., :2]
    sizes = torch.exp(locations[..., 2:] * SIZE_VARIANCE) * priors[..., 2:]
    return torch.cat([centers, sizes], dim=-1)


def center_to_corner(boxes: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.cat([boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], dim=-1)


def corner_to_center(boxes: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.cat([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]], dim=-1)


def box_area(boxes: Any) -> Any:
    """Area of each corner box (..., 4) -> (...); an inverted box has area 0."""
    boxes = _as_boxes(boxes)
    extent = (boxes[..., 2:] - boxes[..., :2]).clip(min=0.0)
    return extent[..., 0] * extent[..., 1]


def box_iou(boxes_a: Any, boxes_b: Any, *, eps: float = IOU_EPS) -> Any:
    """IoU of corner boxes paired element by element, broadcasting their leading axes: (..., 4) and (..., 4) ->
    (...). `eps` is added to the denominator (pytorch-ssd's 1e-5 by default; 0 gives the plain ratio)."""
    boxes_a, boxes_b = _as_boxes(boxes_a), _as_boxes(boxes_b)
    xp = _array_module(boxes_a)
    top_left = xp.maximum(boxes_a[..., :2], boxes_b[..., :2])
    bottom_right = xp.minimum(boxes_a[..., 2:], boxes_b[..., 2:])
    extent = (bottom_right - top_left).clip(min=0.0)
    overlap = extent[..., 0] * extent[..., 1]
    union = box_area(boxes_a) + box_area(boxes_b) - overlap
    return overlap / (union + eps)


def pairwise_iou(boxes_a: Any, boxes_b: Any, *, eps: float = IOU_EPS) -> Any:
    """IoU of every box in (..., M, 4) against every box in (..., K, 4) -> (..., M, K), pytorch-ssd's eps."""
    boxes_a, boxes_b = _as_boxes(boxes_a), _as_boxes(boxes_b)
    return box_iou(boxes_a[..., :, None, :], boxes_b[..., None, :, :], eps=eps)


def greedy_nms(boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy hard NMS of (K,4) boxes sorted by descending score; one step per kept box."""
    suppresses = pairwise_iou(boxes, boxes) > np.float32(iou_threshold)
    remaining = np.ones(len(boxes), bool)
    kept = []
    current = 0
    while True:
        kept.append(current)
        remaining &= ~suppresses[current]
        remaining[: current + 1] = False
        following = np.flatnonzero(remaining)
        if not len(following):
            return np.asarray(kept, np.intp)
        current = int(following[0])


def greedy_nms_keep(boxes: torch.Tensor, valid: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Hard NMS over many independent groups at once.

    `boxes` (G, K, 4) are each group's candidates sorted by descending score and `valid` (G, K) marks real ones.
    Returns the (G, K) keep mask that sequential greedy NMS would give (a box is dropped when its IoU with an
    earlier kept box is > threshold). Greedy NMS is the unique fixed point of "keep j unless an earlier kept box
    overlaps it"; iterating that map from "keep all valid" settles position by position, so the loop ends after
    at most the length of the longest suppression chain (usually a handful of steps), each step one tensor op.
    """
    import torch

    count = boxes.shape[-2]
    earlier = torch.ones(count, count, dtype=torch.bool, device=boxes.device).triu(diagonal=1)
    overlaps = (pairwise_iou(boxes, boxes) > iou_threshold) & earlier & valid[..., :, None]
    keep = valid.clone()
    for _ in range(count + 1):
        suppressed = (overlaps & keep[..., :, None]).any(dim=-2)
        updated = valid & ~suppressed
        if torch.equal(updated, keep):
            break
        keep = updated
    return keep
