"""pytorch-ssd's MultiboxLoss: cross-entropy over positives and 3:1 hard-mined negatives + smooth L1 on positives."""
from __future__ import annotations

import torch
import torch.nn.functional as F

NEGATIVE_RATIO = 3


def hard_negative_mask(background_loss: torch.Tensor, labels: torch.Tensor, ratio: int = NEGATIVE_RATIO) -> torch.Tensor:
    """Positives plus the `ratio` x positives highest-loss negatives of each image, as one (B,P) bool mask."""
    positives = labels > 0
    negatives_wanted = positives.sum(dim=1, keepdim=True) * ratio
    loss = background_loss.masked_fill(positives, -torch.inf)
    rank = loss.argsort(dim=1, descending=True).argsort(dim=1)
    return positives | (rank < negatives_wanted)


def multibox_loss(
    confidences: torch.Tensor, locations: torch.Tensor, target_labels: torch.Tensor, target_locations: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(regression loss, classification loss), each summed and divided by the number of positive priors."""
    with torch.no_grad():
        background_loss = -F.log_softmax(confidences.float(), dim=2)[:, :, 0]
        mask = hard_negative_mask(background_loss, target_labels)
    classification = F.cross_entropy(confidences[mask].float(), target_labels[mask], reduction="sum")
    positives = target_labels > 0
    regression = F.smooth_l1_loss(locations[positives].float(), target_locations[positives], reduction="sum")
    count = positives.sum().clamp(min=1)
    return regression / count, classification / count
