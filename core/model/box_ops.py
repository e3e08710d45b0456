"""Box arithmetic on torch tensors: SSD decoding, corner conversion, IoU and batched greedy (hard) NMS."""
from __future__ import annotations

import torch

from core.model.config import CENTER_VARIANCE, SIZE_VARIANCE

IOU_EPS = 1e-5


def decode_locations(locations: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Regression outputs (..., P, 4) + center-form priors (P, 4) -> center-form boxes (..., P, 4)."""
    centers = locations[..., :2] * CENTER_VARIANCE * priors[..., 2:] + priors[..., :2]
    sizes = torch.exp(locations[..., 2:] * SIZE_VARIANCE) * priors[..., 2:]
    return torch.cat([centers, sizes], dim=-1)


def center_to_corner(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], dim=-1)


def corner_to_center(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]], dim=-1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    extent = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0.0)
    return extent[..., 0] * extent[..., 1]


def pairwise_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """IoU of every box in (..., M, 4) against every box in (..., K, 4) -> (..., M, K), pytorch-ssd's eps."""
    top_left = torch.maximum(boxes_a[..., :, None, :2], boxes_b[..., None, :, :2])
    bottom_right = torch.minimum(boxes_a[..., :, None, 2:], boxes_b[..., None, :, 2:])
    overlap = box_area(torch.cat([top_left, bottom_right], dim=-1))
    union = box_area(boxes_a)[..., :, None] + box_area(boxes_b)[..., None, :] - overlap
    return overlap / (union + IOU_EPS)


def greedy_nms_keep(boxes: torch.Tensor, valid: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Hard NMS over many independent groups at once.

    `boxes` (G, K, 4) are each group's candidates sorted by descending score and `valid` (G, K) marks real ones.
    Returns the (G, K) keep mask that sequential greedy NMS would give (a box is dropped when its IoU with an
    earlier kept box is > threshold). Greedy NMS is the unique fixed point of "keep j unless an earlier kept box
    overlaps it"; iterating that map from "keep all valid" settles position by position, so the loop ends after
    at most the length of the longest suppression chain (usually a handful of steps), each step one tensor op.
    """
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
