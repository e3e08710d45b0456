"""VOC-style average precision at IoU 0.5, computed the way pytorch-ssd's eval_ssd.py reports it.

Per class, detections of all images are ranked by descending score. Each takes the ground-truth box of its class
in its image with the highest IoU (plain pixel areas, IoU denominator + 1e-5); it is a true positive when that IoU
is **above** the threshold and no higher-ranked detection took the same box, otherwise a false positive (so a
duplicate counts as a false positive even when another unmatched box overlaps it). AP is the 11-point VOC 2007 mean
(`use_2007_metric`, eval_ssd.py's default and ours), or the area under the interpolated precision-recall curve
(VOC 2010+). `voc_metric_name` says which, wherever a figure is shown or recorded.

A class without ground truth has no AP (NaN here); eval_ssd.py has no defined answer for it, and leaving it out of
the mean is what COCO does. Matching is vectorized: the greedy rule only needs each detection's best box and
whether an earlier detection already claimed that box, which `np.unique` answers for all detections at once.
"""
from __future__ import annotations

import numpy as np

from core.model.box_ops import box_iou
from core.optimize.eval_records import EvalRecords

IOU_THRESHOLD = 0.5
USE_2007_METRIC = True  # eval_ssd.py's `--use_2007_metric` default
_CHUNK_ELEMENTS = 1 << 22  # detection x ground-truth pairs per IoU block, bounds memory on big test sets


def voc_metric_name(use_2007_metric: bool) -> str:
    """How a VOC AP figure was computed, in words a reader can match with eval_ssd.py's output."""
    return "VOC2007 11-point" if use_2007_metric else "VOC area"


def best_matches(records: EvalRecords) -> tuple[np.ndarray, np.ndarray]:
    """For each detection: the index of the same-image same-class ground-truth box with the highest IoU (-1 when
    there is none) and that IoU (0 when there is none). Ties go to the box listed first in the image."""
    detections = len(records.det_labels)
    best_gt = np.full(detections, -1, np.int64)
    best_iou = np.zeros(detections, np.float64)
    if detections == 0 or len(records.gt_labels) == 0:
        return best_gt, best_iou
    classes = records.num_classes
    gt_keys = records.gt_image * classes + records.gt_labels
    gt_order = np.argsort(gt_keys, kind="stable")
    keys, starts, counts = np.unique(gt_keys[gt_order], return_index=True, return_counts=True)
    det_keys = records.det_image * classes + records.det_labels
    group = np.minimum(np.searchsorted(keys, det_keys), len(keys) - 1)
    rows = np.flatnonzero(keys[group] == det_keys)
    width = int(counts.max())
    columns = np.arange(width)
    step = max(1, _CHUNK_ELEMENTS // width)
    for begin in range(0, len(rows), step):
        chunk = rows[begin:begin + step]
        chunk_group = group[chunk]
        valid = columns < counts[chunk_group][:, None]
        candidates = gt_order[np.where(valid, starts[chunk_group][:, None] + columns, 0)]
        iou = box_iou(records.det_boxes[chunk][:, None], records.gt_boxes[candidates])
        iou[~valid] = -1.0
        pick = iou.argmax(axis=1)
        best_gt[chunk] = candidates[np.arange(len(chunk)), pick]
        best_iou[chunk] = iou[np.arange(len(chunk)), pick]
    return best_gt, best_iou


def ranked_true_positives(records: EvalRecords, *,
                          iou_threshold: float = IOU_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """(order, true_positive): detection indices sorted by class then descending score (ties keep detection order),
    and whether each detection in that order is a true positive under the greedy rule."""
    best_gt, best_iou = best_matches(records)
    order = np.lexsort((-records.det_scores, records.det_labels))
    hits = np.flatnonzero(best_iou[order] > iou_threshold)
    _, first_claim = np.unique(best_gt[order][hits], return_index=True)  # ground-truth ids are global: no class mixing
    true_positive = np.zeros(len(order), bool)
    true_positive[hits[first_claim]] = True
    return order, true_positive


def voc_average_precision(precision: np.ndarray, recall: np.ndarray, *,
                          use_2007_metric: bool = USE_2007_METRIC) -> float:
    """AP from precision and recall in ranked order: the 11-point mean, or the area under the interpolated curve."""
    precision = np.asarray(precision, np.float64)
    recall = np.asarray(recall, np.float64)
    if use_2007_metric:
        thresholds = np.linspace(0.0, 1.0, 11)
        reached = recall[None, :] >= thresholds[:, None]
        best = np.where(reached, precision[None, :], 0.0).max(axis=1, initial=0.0)
        return float(best.mean())
    precision = np.concatenate([[0.0], precision, [0.0]])
    recall = np.concatenate([[0.0], recall, [1.0]])
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(((recall[steps + 1] - recall[steps]) * envelope[steps + 1]).sum())


def voc_ap_per_class(records: EvalRecords, *, iou_threshold: float = IOU_THRESHOLD,
                     use_2007_metric: bool = USE_2007_METRIC) -> np.ndarray:
    """AP of every class id (C,); NaN for BACKGROUND and for classes without ground truth."""
    order, true_positive = ranked_true_positives(records, iou_threshold=iou_threshold)
    sorted_labels = records.det_labels[order]
    gt_counts = records.gt_counts()
    result = np.full(records.num_classes, np.nan)
    for class_id in range(1, records.num_classes):
        if gt_counts[class_id] == 0:
            continue
        begin, end = np.searchsorted(sorted_labels, [class_id, class_id + 1])
        hits = np.cumsum(true_positive[begin:end])
        ranks = np.arange(1, end - begin + 1)
        result[class_id] = voc_average_precision(hits / ranks, hits / gt_counts[class_id],
                                                 use_2007_metric=use_2007_metric)
    return result
