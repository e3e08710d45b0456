"""SSD training targets as pytorch-ssd's MatchPrior computes them, vectorized over boxes and priors.

Each prior takes the ground-truth box it overlaps most; each ground-truth box also claims its best prior; priors
whose best IoU is below 0.5 become BACKGROUND. Matched boxes are encoded as regression targets against the priors.
"""
from __future__ import annotations

import torch

from core.model.box_ops import center_to_corner, corner_to_center, pairwise_iou
from core.model.config import CENTER_VARIANCE, SIZE_VARIANCE

MATCH_IOU_THRESHOLD = 0.5


def encode_boxes(center_boxes: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Center-form boxes -> regression targets (the inverse of `decode_locations`)."""
    return torch.cat(
        [
            (center_boxes[..., :2] - priors[..., :2]) / priors[..., 2:] / CENTER_VARIANCE,
            torch.log(center_boxes[..., 2:] / priors[..., 2:]) / SIZE_VARIANCE,
        ],
        dim=-1,
    )


def match_priors(
    boxes: torch.Tensor, labels: torch.Tensor, priors: torch.Tensor, iou_threshold: float = MATCH_IOU_THRESHOLD
) -> tuple[torch.Tensor, torch.Tensor]:
    """`boxes` (M,4) normalized corners and `labels` (M,) -> regression targets (P,4) and class targets (P,)."""
    count = priors.shape[0]
    if boxes.shape[0] == 0:
        return torch.zeros(count, 4), torch.zeros(count, dtype=torch.long)
    ious = pairwise_iou(center_to_corner(priors), boxes)  # (P, M)
    best_iou, best_target = ious.max(dim=1)
    best_prior = ious.argmax(dim=0)  # (M,)
    best_target[best_prior] = torch.arange(boxes.shape[0])
    best_iou[best_prior] = 2.0
    targets = labels[best_target].clone()
    targets[best_iou < iou_threshold] = 0
    locations = encode_boxes(corner_to_center(boxes[best_target]), priors)
    return locations, targets
