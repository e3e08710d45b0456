"""Network outputs -> `Detections`: per-class threshold, top-200 candidates and hard NMS, batched in torch ops.

Matches pytorch-ssd's predictor: classes 1..C-1, keep prob > threshold (strict; a falsy threshold means 0.01),
at most 200 candidates per class by descending score, greedy NMS with IoU > 0.45 suppressing (computed on the
normalized boxes), boxes then scaled by the frame's width and height, unclamped.
"""
from __future__ import annotations

import numpy as np
import torch

from core.detect.base import Detections
from core.model.box_ops import greedy_nms_keep
from core.model.config import CANDIDATE_SIZE, IOU_THRESHOLD

FALLBACK_THRESHOLD = 0.01


def postprocess(
    scores: torch.Tensor,
    boxes: torch.Tensor,
    frame_sizes: np.ndarray,
    score_threshold: float,
    *,
    iou_threshold: float = IOU_THRESHOLD,
    candidate_size: int = CANDIDATE_SIZE,
) -> list[Detections]:
    """`scores` (B,P,C) softmaxed, `boxes` (B,P,4) normalized corners, `frame_sizes` (B,2) width,height."""
    threshold = score_threshold or FALLBACK_THRESHOLD
    scores = scores.float()
    boxes = boxes.float()
    batch, priors, classes = scores.shape
    class_scores = scores[..., 1:].transpose(1, 2)  # (B, C-1, P)
    # A stable sort makes ties (equal probabilities) keep prior order, so results are deterministic.
    top_scores, top_index = class_scores.sort(dim=-1, descending=True, stable=True)
    top_scores, top_index = top_scores[..., :candidate_size], top_index[..., :candidate_size]
    valid = top_scores > threshold
    width = int(valid.sum(dim=-1).max()) if valid.numel() else 0
    if width == 0:
        return [Detections.empty() for _ in range(batch)]
    top_scores, top_index, valid = top_scores[..., :width], top_index[..., :width], valid[..., :width]
    candidates = torch.gather(
        boxes[:, None].expand(batch, classes - 1, priors, 4), 2, top_index[..., None].expand(-1, -1, -1, 4)
    )
    keep = greedy_nms_keep(candidates.reshape(-1, width, 4), valid.reshape(-1, width), iou_threshold)
    keep = keep.view(batch, classes - 1, width)
    image_index, class_index, rank = keep.nonzero(as_tuple=True)  # lexicographic: class asc, score desc
    scale = torch.as_tensor(frame_sizes, dtype=torch.float32, device=boxes.device).repeat(1, 2)  # w,h,w,h
    kept_boxes = (candidates[image_index, class_index, rank] * scale[image_index]).cpu().numpy()
    kept_scores = top_scores[image_index, class_index, rank].cpu().numpy()
    kept_labels = (class_index + 1).cpu().numpy().astype(np.int64)
    counts = torch.bincount(image_index, minlength=batch).cpu().tolist()
    splits = np.cumsum(counts)[:-1]
    return [
        Detections(b.astype(np.float32), s.astype(np.float32), l)
        for b, s, l in zip(np.split(kept_boxes, splits), np.split(kept_scores, splits), np.split(kept_labels, splits))
    ]
