"""Evaluate a detector on a dataset split: VOC mAP@0.5 as pytorch-ssd's eval_ssd.py reports it (by default its
11-point VOC 2007 AP), COCO mAP@[.5:.95] and AP50 (COCO's rules, via faster-coco-eval), overall and per class, plus
the evaluation's images/sec. The ledger records the VOC figures with the metric's name as their unit.

Like eval_ssd.py, the detector must keep everything above a 0.01 class score (its predictor's fallback
threshold); a detector built for display (threshold 0.4) would cut the precision-recall curve short and
understate mAP, so `evaluate` refuses one. `evaluation_spec` builds the right spec for any backend.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from core.data.dataset import Sample
from core.detect.base import Detector, DetectorSpec
from core.errors import UserError
from core.optimize.coco_ap import CocoScores, coco_scores
from core.optimize.eval_records import EvalRecords, RecordsBuilder
from core.optimize.voc_ap import IOU_THRESHOLD, USE_2007_METRIC, voc_ap_per_class, voc_metric_name

logger = logging.getLogger(__name__)

# pytorch-ssd's predictor keeps class scores above this when eval_ssd.py calls it without a threshold.
EVAL_SCORE_THRESHOLD = 0.01


class EvaluationDataset(Protocol):
    """What `evaluate` reads (a `DetectionDataset`, or any sized iterable of `Sample`s); iteration may skip
    unreadable images."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Sample]: ...


class MetricsRecorder(Protocol):
    """The part of a ledger run (`core.ledger.RecordedRun`) that `record_metrics` writes into."""

    def metric(self, name: str, value: float, *, unit: str | None = None, epoch: int | None = None,
               class_name: str | None = None) -> None: ...


@dataclass(frozen=True)
class ClassResult:
    """One class: box counts and its APs (None when the split has no ground truth of it)."""

    class_id: int
    name: str
    ground_truth: int
    detections: int
    ap50: float | None  # VOC, as eval_ssd.py (the result's `voc_metric`)
    coco_map: float | None  # COCO AP@[.5:.95]
    coco_map50: float | None  # COCO AP@.5


@dataclass(frozen=True)
class EvaluationResult:
    """Overall means are over the classes with ground truth; speeds include image decoding."""

    map50: float
    coco_map: float
    coco_map50: float
    classes: list[ClassResult]
    images: int
    skipped_images: int
    ground_truth_boxes: int
    detections: int
    seconds: float
    images_per_sec: float
    detector_images_per_sec: float
    batch_size: int
    use_2007_metric: bool
    iou_threshold: float
    score_threshold: float
    detector: dict[str, str]
    dataset: str

    @property
    def voc_metric(self) -> str:
        """Which VOC AP `map50` and the classes' `ap50` are: "VOC2007 11-point" or "VOC area"."""
        return voc_metric_name(self.use_2007_metric)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "voc_metric": self.voc_metric}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EvaluationResult:
        """The result `to_dict` wrote (e.g. kept in a Jetson bundle's manifest)."""
        fields = {key: value for key, value in values.items() if key != "voc_metric"}
        return cls(**{**fields, "classes": [ClassResult(**item) for item in values["classes"]]})


def evaluation_spec(weights: str | Path, labels: str | Path, *, backend: str = "torch", device: str = "auto",
                    precision: str = "auto", threads: int | None = None) -> DetectorSpec:
    """A `DetectorSpec` with eval_ssd.py's low score threshold."""
    return DetectorSpec(Path(weights), Path(labels), backend=backend, device=device, precision=precision,
                        score_threshold=EVAL_SCORE_THRESHOLD, threads=threads)


def _batches(dataset: Iterable[Sample], batch_size: int) -> Iterator[list[Sample]]:
    batch: list[Sample] = []
    for sample in dataset:
        batch.append(sample)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _prefetched(batches: Iterator[list[Sample]]) -> Iterator[list[Sample]]:
    """Decode the next batch on a worker thread while the detector runs on this one (OpenCV releases the GIL)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evaluate-read") as pool:
        pending = pool.submit(next, batches, None)
        while (batch := pending.result()) is not None:
            pending = pool.submit(next, batches, None)
            yield batch


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _class_mean(values: np.ndarray) -> float:
    valid = values[~np.isnan(values)]
    return float(valid.mean()) if valid.size else 0.0


def _check_threshold(detector: Detector) -> float:
    threshold = float(getattr(detector, "score_threshold", EVAL_SCORE_THRESHOLD) or EVAL_SCORE_THRESHOLD)
    if threshold > EVAL_SCORE_THRESHOLD:
        raise UserError(f"the detector keeps only scores above {threshold:g}; mAP needs {EVAL_SCORE_THRESHOLD:g} "
                        "(load it with evaluation_spec(...))")
    return threshold


def collect(detector: Detector, dataset: EvaluationDataset, *, batch_size: int = 8,
            progress: bool = True) -> tuple[EvalRecords, float, float]:
    """Run the detector over the dataset: (records, seconds of the whole pass, seconds inside `detect`)."""
    builder = RecordsBuilder(list(detector.class_names))
    detect_seconds = 0.0
    started = time.perf_counter()
    with tqdm(total=len(dataset), desc="evaluate", unit="img", disable=not progress, leave=False) as bar:
        for batch in _prefetched(_batches(dataset, batch_size)):
            before = time.perf_counter()
            results = detector.detect([sample.image for sample in batch])
            detect_seconds += time.perf_counter() - before
            for sample, found in zip(batch, results, strict=True):
                height, width = sample.image.shape[:2]
                builder.add(width=width, height=height, gt_boxes=sample.boxes, gt_labels=sample.labels,
                            det_boxes=found.boxes, det_scores=found.scores, det_labels=found.labels)
            bar.update(len(batch))
    return builder.build(), time.perf_counter() - started, detect_seconds


def score_records(records: EvalRecords, *,
                  use_2007_metric: bool = USE_2007_METRIC) -> tuple[np.ndarray, CocoScores]:
    """Per-class VOC AP@0.5 (C,) and the COCO scores of already collected records."""
    return voc_ap_per_class(records, iou_threshold=IOU_THRESHOLD, use_2007_metric=use_2007_metric), coco_scores(records)


def evaluate(detector: Detector, dataset: EvaluationDataset, *, batch_size: int = 8, progress: bool = True,
             use_2007_metric: bool = USE_2007_METRIC) -> EvaluationResult:
    """Detect on every readable image of `dataset` (labels in the detector's class order) and score the result."""
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    threshold = _check_threshold(detector)
    if len(dataset) == 0:
        raise UserError(f"{getattr(dataset, 'name', 'the dataset')} has no images with boxes to evaluate on")
    records, seconds, detect_seconds = collect(detector, dataset, batch_size=batch_size, progress=progress)
    if records.num_images == 0:
        raise UserError(f"none of the {len(dataset)} images of {getattr(dataset, 'name', 'the dataset')} could be read")
    return evaluation_result(
        records, skipped_images=len(dataset) - records.num_images, seconds=seconds, detect_seconds=detect_seconds,
        batch_size=batch_size, use_2007_metric=use_2007_metric, score_threshold=threshold,
        detector={key: str(getattr(detector, key, "")) for key in ("name", "backend", "device", "precision")},
        dataset=str(getattr(dataset, "name", "")))


def evaluation_result(records: EvalRecords, *, skipped_images: int, seconds: float, detect_seconds: float,
                      batch_size: int, use_2007_metric: bool, score_threshold: float, detector: dict[str, str],
                      dataset: str) -> EvaluationResult:
    """Score collected records (detections and ground truth of every image) into an `EvaluationResult`; the
    speeds are 0 when no time was measured here (detections made elsewhere)."""
    voc, coco = score_records(records, use_2007_metric=use_2007_metric)
    gt_counts, det_counts = records.gt_counts(), records.det_counts()
    classes = [
        ClassResult(class_id=class_id, name=name, ground_truth=int(gt_counts[class_id]),
                    detections=int(det_counts[class_id]), ap50=_optional(voc[class_id]),
                    coco_map=_optional(coco.per_class_map[class_id]),
                    coco_map50=_optional(coco.per_class_map50[class_id]))
        for class_id, name in enumerate(records.class_names) if class_id > 0
    ]
    result = EvaluationResult(
        map50=_class_mean(voc), coco_map=0.0 if math.isnan(coco.map) else coco.map,
        coco_map50=0.0 if math.isnan(coco.map50) else coco.map50, classes=classes,
        images=records.num_images, skipped_images=skipped_images,
        ground_truth_boxes=len(records.gt_labels), detections=len(records.det_labels), seconds=seconds,
        images_per_sec=records.num_images / seconds if seconds > 0 else 0.0,
        detector_images_per_sec=records.num_images / detect_seconds if detect_seconds > 0 else 0.0,
        batch_size=batch_size, use_2007_metric=use_2007_metric, iou_threshold=IOU_THRESHOLD,
        score_threshold=score_threshold, detector=detector, dataset=dataset,
    )
    logger.info("evaluated %d images: mAP@0.5 (%s) %.4f, COCO mAP %.4f, %.1f img/s", result.images,
                result.voc_metric, result.map50, result.coco_map, result.images_per_sec)
    return result


def record_metrics(run: MetricsRecorder, result: EvaluationResult, *, epoch: int | None = None) -> None:
    """Write the result into a ledger run: map50, coco_map, coco_map50, images_per_sec (when this evaluation was
    timed) and per-class APs; the VOC figures (`map50`, `ap50`) carry the VOC metric's name as their unit."""
    run.metric("map50", result.map50, unit=result.voc_metric, epoch=epoch)
    run.metric("coco_map", result.coco_map, epoch=epoch)
    run.metric("coco_map50", result.coco_map50, epoch=epoch)
    if result.seconds > 0:
        run.metric("images_per_sec", result.images_per_sec, unit="img/s", epoch=epoch)
    for item in result.classes:
        for name, value, unit in (("ap50", item.ap50, result.voc_metric), ("coco_ap", item.coco_map, None),
                                  ("coco_ap50", item.coco_map50, None)):
            if value is not None:
                run.metric(name, value, unit=unit, epoch=epoch, class_name=item.name)


def record_deltas(run: MetricsRecorder, result: EvaluationResult, reference: EvaluationResult) -> None:
    """ΔmAP against a reference evaluation of the same images: overall and per class (VOC AP@0.5 and COCO AP)."""
    run.metric("delta_map50", result.map50 - reference.map50)
    run.metric("delta_coco_map", result.coco_map - reference.coco_map)
    base = {item.name: item for item in reference.classes}
    for item in result.classes:
        before = base.get(item.name)
        if before is not None and item.ap50 is not None and before.ap50 is not None:
            run.metric("delta_ap50", item.ap50 - before.ap50, class_name=item.name)
        if before is not None and item.coco_map is not None and before.coco_map is not None:
            run.metric("delta_coco_ap", item.coco_map - before.coco_map, class_name=item.name)
