"""Evaluation: VOC AP math on hand-checked cases (eval_ssd.py's 11-point default and the area), vectorized matching
against a plain loop, COCO agreement, the threshold guard, torch and onnxruntime agreeing on the trained demo model,
and `python -m core evaluate` end to end on a tiny synthetic dataset."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import build_parser, main
from core.config import DEMO_DIR
from core.data.dataset import Sample
from core.data.readers import open_split, read_dataset
from core.data.synthetic import make_synthetic_dataset
from core.detect import Detections, load_detector
from core.errors import UserError
from core.model import build_mobilenet_v1_ssd, read_labels
from core.model.box_ops import box_iou
from core.model.checkpoint import save_state_dict
from core.optimize.eval_records import EvalRecords, RecordsBuilder
from core.commands.evaluate import format_result
from core.optimize.evaluate import EVAL_SCORE_THRESHOLD, evaluate, evaluation_spec, record_metrics, score_records
from core.optimize.voc_ap import ranked_true_positives, voc_ap_per_class, voc_average_precision

NAMES = ["BACKGROUND", "cat", "dog", "bird"]
DEMO_WEIGHTS = DEMO_DIR / "mb1-ssd-demo-fp16.pth"


class FakeDetector:
    """Returns prepared detections for each frame, found by the frame's pixels."""

    backend = "fake"
    device = "cpu"
    precision = "fp32"
    name = "fake"

    def __init__(self, class_names: list[str], by_image: dict[str, Detections],
                 score_threshold: float = EVAL_SCORE_THRESHOLD) -> None:
        self.class_names = class_names
        self.score_threshold = score_threshold
        self._by_image = by_image

    @staticmethod
    def key(image: np.ndarray) -> str:
        return hashlib.sha1(image.tobytes()).hexdigest()

    def detect(self, frames):
        return [self._by_image.get(self.key(frame), Detections.empty()) for frame in frames]

    def close(self) -> None:
        pass


def _sample(index: int, boxes, labels, size=(200, 300)) -> Sample:
    image = np.full((*size, 3), index, np.uint8)  # distinct pixels per image, so FakeDetector can tell them apart
    return Sample(f"img{index}", Path(f"img{index}.jpg"), image, np.asarray(boxes, np.float32).reshape(-1, 4),
                  np.asarray(labels, np.int64))


def _detections(boxes, scores, labels) -> Detections:
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                      np.asarray(labels, np.int64))


def _run(samples: list[Sample], detections: list[Detections], names=NAMES, **options):
    detector = FakeDetector(names, {FakeDetector.key(s.image): d for s, d in zip(samples, detections)})
    return evaluate(detector, samples, batch_size=2, progress=False, **options)


FAR = [250.0, 150.0, 290.0, 190.0]  # overlaps none of the ground-truth boxes below
GT3 = [[10, 10, 50, 50], [60, 10, 100, 50], [110, 10, 150, 50]]
HAND_CURVE_AREA = 34 / 45  # ranked TP, FP, TP, FP, TP with 3 ground-truth boxes, worked out below
HAND_CURVE_11_POINT = (4 + 2 + 2.4) / 11


def test_average_precision_of_a_hand_computed_curve():
    # ranked TP, FP, TP, FP, TP with 3 ground-truth boxes: precision 1, 1/2, 2/3, 1/2, 3/5 at recall 1/3 .. 1
    precision = np.array([1, 1 / 2, 2 / 3, 1 / 2, 3 / 5])
    recall = np.array([1, 1, 2, 2, 3]) / 3
    # area: 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/5 = 34/45
    assert voc_average_precision(precision, recall, use_2007_metric=False) == pytest.approx(HAND_CURVE_AREA)
    # 11-point: t=0..0.3 -> 1, t=0.4..0.6 -> 2/3, t=0.7..1 -> 3/5; eval_ssd.py's default, and so ours
    assert voc_average_precision(precision, recall, use_2007_metric=True) == pytest.approx(HAND_CURVE_11_POINT)
    assert voc_average_precision(precision, recall) == pytest.approx(HAND_CURVE_11_POINT)
    assert voc_average_precision(np.zeros(0), np.zeros(0)) == 0.0


@pytest.mark.parametrize(("options", "expected", "metric"), [
    ({}, HAND_CURVE_11_POINT, "VOC2007 11-point"),
    ({"use_2007_metric": False}, HAND_CURVE_AREA, "VOC area"),
])
def test_evaluate_reproduces_the_hand_computed_curve(options, expected, metric):
    boxes = [GT3[0], FAR, GT3[1], FAR, GT3[2]]
    found = _detections(boxes, [0.9, 0.8, 0.7, 0.6, 0.5], [1] * 5)
    result = _run([_sample(1, GT3, [1, 1, 1])], [found], **options)
    (cat, dog, bird) = result.classes
    assert cat.ap50 == pytest.approx(expected)
    assert (cat.ground_truth, cat.detections) == (3, 5)
    assert dog.ap50 is None and bird.ap50 is None  # no ground truth: no AP, left out of the mean
    assert result.map50 == pytest.approx(expected)
    assert result.voc_metric == metric and result.to_dict()["voc_metric"] == metric


def test_recorded_voc_figures_name_their_metric():
    found = _detections([GT3[0], FAR], [0.9, 0.8], [1, 1])
    result = _run([_sample(1, GT3[:2], [1, 2])], [found])
    recorded: list[tuple[str, str | None, str | None]] = []

    class Recorder:
        def metric(self, name, value, *, unit=None, epoch=None, class_name=None):
            recorded.append((name, class_name, unit))

    record_metrics(Recorder(), result)
    units = {(name, class_name): unit for name, class_name, unit in recorded}
    assert units[("map50", None)] == units[("ap50", "cat")] == units[("ap50", "dog")] == "VOC2007 11-point"
    assert units[("coco_map", None)] is None and units[("images_per_sec", None)] == "img/s"
    assert "mAP@0.5 (VOC2007 11-point): " in format_result(result)


def test_perfect_detector_scores_one_on_a_synthetic_split(tiny_dataset):
    dataset = open_split(read_dataset(tiny_dataset), "test", read_labels(tiny_dataset / "labels.txt"))
    truth = {FakeDetector.key(s.image): _detections(s.boxes, np.linspace(0.9, 0.5, len(s.labels)), s.labels)
             for s in dataset}
    detector = FakeDetector(dataset.class_names, truth)
    result = evaluate(detector, dataset, batch_size=3, progress=False)
    assert result.images == len(dataset) and result.skipped_images == 0
    assert result.map50 == pytest.approx(1.0)
    assert result.coco_map == pytest.approx(1.0)
    assert result.coco_map50 == pytest.approx(1.0)
    with_gt = [c for c in result.classes if c.ground_truth]
    assert with_gt and all(c.ap50 == pytest.approx(1.0) and c.coco_map == pytest.approx(1.0) for c in with_gt)
    assert result.images_per_sec > 0 and result.detector_images_per_sec >= result.images_per_sec


def test_corrupt_images_are_skipped_and_counted(tiny_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    dataset = open_split(read_dataset(copy), "test", read_labels(copy / "labels.txt"))
    truth = {FakeDetector.key(s.image): _detections(s.boxes, np.ones(len(s.labels)), s.labels) for s in dataset}
    dataset[0].path.write_bytes(b"not a jpeg")
    result = evaluate(FakeDetector(dataset.class_names, truth), dataset, progress=False)
    assert result.skipped_images == 1 and result.images == len(dataset) - 1
    assert result.map50 == pytest.approx(1.0)


def test_duplicates_are_false_positives():
    # two boxes; the second detection repeats the first box: ranked TP, FP, TP -> P 1, 1/2, 2/3 at R 1/2, 1/2, 1
    found = _detections([GT3[0], [11, 11, 51, 51], GT3[1]], [0.9, 0.8, 0.7], [1, 1, 1])
    result = _run([_sample(1, GT3[:2], [1, 1])], [found])
    assert result.classes[0].ap50 == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)  # 11-point: t=0..0.5, t=0.6..1


def test_a_detection_whose_best_box_is_taken_is_a_false_positive_even_if_another_box_fits():
    # eval_ssd.py's rule: the second detection's best box (A) is taken, so it is false even though IoU(B) > 0.5
    box_a, box_b = [0, 0, 100, 100], [20, 0, 120, 100]
    second = [6, 0, 106, 100]
    records = RecordsBuilder(NAMES)
    records.add(width=300, height=200, gt_boxes=np.array([box_a, box_b]), gt_labels=np.array([1, 1]),
                det_boxes=np.array([box_a, second]), det_scores=np.array([0.9, 0.8]), det_labels=np.array([1, 1]))
    built = records.build()
    iou = box_iou(np.array(second, float), np.array([box_a, box_b], float))
    assert iou[0] > iou[1] > 0.5
    order, true_positive = ranked_true_positives(built)
    assert order.tolist() == [0, 1] and true_positive.tolist() == [True, False]
    assert voc_ap_per_class(built, use_2007_metric=False)[1] == pytest.approx(0.5)


def test_classes_without_detections_score_zero_and_without_ground_truth_are_skipped():
    samples = [_sample(1, [GT3[0], GT3[1]], [1, 2]), _sample(2, [GT3[2]], [1])]
    found = [_detections([GT3[0], GT3[2]], [0.9, 0.3], [1, 3]), _detections([GT3[2]], [0.8], [1])]
    result = _run(samples, found)
    cat, dog, bird = result.classes
    assert cat.ap50 == pytest.approx(1.0) and cat.coco_map == pytest.approx(1.0)
    assert dog.ap50 == 0.0 and dog.coco_map == 0.0 and dog.detections == 0
    assert bird.ap50 is None and bird.coco_map is None and bird.detections == 1
    assert result.map50 == pytest.approx(0.5) and result.coco_map == pytest.approx(0.5)


def test_no_detections_at_all_scores_zero():
    result = _run([_sample(1, GT3, [1, 2, 3])], [Detections.empty()])
    assert result.map50 == 0.0 and result.coco_map == 0.0 and result.detections == 0


def _random_records(rng: np.random.Generator, *, images: int, classes: int, jitter: float,
                    disjoint: bool) -> EvalRecords:
    builder = RecordsBuilder(["BACKGROUND", *(f"c{i}" for i in range(1, classes))])
    for _ in range(images):
        count = int(rng.integers(0, 6))
        if disjoint:  # one box per cell of a 3x3 grid: ground-truth boxes never overlap
            cells = rng.choice(9, size=count, replace=False)
            corner = np.stack([cells % 3 * 100 + 10, cells // 3 * 100 + 10], axis=1).astype(float)
            gt = np.concatenate([corner, corner + rng.uniform(40, 80, (count, 2))], axis=1)
        else:
            corner = rng.uniform(0, 200, (count, 2))
            gt = np.concatenate([corner, corner + rng.uniform(20, 100, (count, 2))], axis=1)
        gt_labels = rng.integers(1, classes, count)
        keep = rng.random(count) < 0.8  # some objects are missed
        hit_labels = gt_labels[keep]
        twice = rng.random(len(hit_labels)) < 0.3  # some objects are found twice: the second is a duplicate
        hits = np.concatenate([gt[keep], gt[keep][twice]])
        hit_labels = np.concatenate([hit_labels, hit_labels[twice]])
        hits = hits + rng.normal(0, jitter, hits.shape)
        false_count = int(rng.integers(0, 4))
        corner = rng.uniform(0, 250, (false_count, 2))
        false = np.concatenate([corner, corner + rng.uniform(10, 60, (false_count, 2))], axis=1)
        builder.add(width=320, height=320, gt_boxes=gt, gt_labels=gt_labels,
                    det_boxes=np.concatenate([hits, false]), det_scores=rng.random(len(hits) + false_count),
                    det_labels=np.concatenate([hit_labels, rng.integers(1, classes, false_count)]))
    return builder.build()


def _loop_voc_ap(records: EvalRecords, *, use_2007_metric: bool, iou_threshold: float = 0.5) -> np.ndarray:
    """The greedy rule spelled out one detection at a time (the reference for the vectorized version)."""
    result = np.full(records.num_classes, np.nan)
    for class_id in range(1, records.num_classes):
        gt_total = int((records.gt_labels == class_id).sum())
        if gt_total == 0:
            continue
        mine = np.flatnonzero(records.det_labels == class_id)
        mine = mine[np.argsort(-records.det_scores[mine], kind="stable")]
        claimed: set[int] = set()
        flags = []
        for index in mine:
            candidates = np.flatnonzero((records.gt_image == records.det_image[index])
                                        & (records.gt_labels == class_id))
            if len(candidates) == 0:
                flags.append(False)
                continue
            iou = box_iou(records.det_boxes[index], records.gt_boxes[candidates])
            best = int(candidates[int(np.argmax(iou))])
            flags.append(bool(iou.max() > iou_threshold and best not in claimed))
            if flags[-1]:
                claimed.add(best)
        hits = np.cumsum(flags)
        ranks = np.arange(1, len(flags) + 1)
        result[class_id] = voc_average_precision(hits / ranks, hits / gt_total, use_2007_metric=use_2007_metric)
    return result


@pytest.mark.parametrize("use_2007_metric", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorized_matching_equals_the_plain_loop(seed, use_2007_metric):
    records = _random_records(np.random.default_rng(seed), images=60, classes=5, jitter=8.0, disjoint=False)
    assert len(records.det_labels) > 100
    np.testing.assert_allclose(voc_ap_per_class(records, use_2007_metric=use_2007_metric),
                               _loop_voc_ap(records, use_2007_metric=use_2007_metric), rtol=0, atol=1e-12)


def test_voc_map50_agrees_with_coco_ap50_when_matching_is_unambiguous():
    # disjoint ground truth and small jitter: both rules match the same pairs; only the interpolation differs (the
    # area, not the coarse 11-point mean, is what COCO's 101 points approximate)
    records = _random_records(np.random.default_rng(5), images=150, classes=4, jitter=2.0, disjoint=True)
    voc, coco = score_records(records, use_2007_metric=False)
    valid = ~np.isnan(voc)
    assert valid.sum() == 3 and 0.3 < np.nanmean(voc) < 0.95
    np.testing.assert_allclose(voc[valid], coco.per_class_map50[valid], atol=0.01)
    assert np.nanmean(voc) == pytest.approx(coco.map50, abs=0.01)


def test_a_display_threshold_detector_is_refused():
    detector = FakeDetector(NAMES, {}, score_threshold=0.4)
    with pytest.raises(UserError, match="0.01"):
        evaluate(detector, [_sample(1, GT3, [1, 1, 1])], progress=False)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "shapes", images=50, seed=11)


@pytest.fixture(scope="module")
def shapes_model(tiny_dataset, tmp_path_factory) -> Path:
    """A seeded random-init mb1-ssd with the synthetic dataset's classes."""
    torch.manual_seed(1234)
    network = build_mobilenet_v1_ssd(len(read_labels(tiny_dataset / "labels.txt")))
    return save_state_dict(network, tmp_path_factory.mktemp("model") / "mb1-ssd-Epoch-0-Loss-9.9.pth")


@pytest.mark.timeout(120)
def test_torch_and_onnxruntime_evaluations_agree_on_the_trained_demo_model(tiny_dataset):
    """On a model that finds most objects of the (hard) demo data, so a backend that found nothing could not pass."""
    results = {}
    for backend in ("torch", "onnxruntime"):
        detector = load_detector(evaluation_spec(DEMO_WEIGHTS, DEMO_DIR / "labels.txt", backend=backend,
                                                 device="cpu"))
        try:
            dataset = open_split(read_dataset(tiny_dataset), "test", detector.class_names)
            results[backend] = evaluate(detector, dataset, batch_size=4, progress=False)
        finally:
            detector.close()
    torch_result, ort_result = results["torch"], results["onnxruntime"]
    assert torch_result.map50 >= 0.6 and ort_result.map50 >= 0.6 and torch_result.coco_map >= 0.45
    assert abs(torch_result.map50 - ort_result.map50) < 0.005
    assert abs(torch_result.coco_map - ort_result.coco_map) < 0.005
    assert abs(torch_result.detections - ort_result.detections) <= 0.02 * torch_result.detections


@pytest.mark.timeout(120)
def test_cli_end_to_end(tiny_dataset, shapes_model, tmp_path, monkeypatch, capsys):
    database = tmp_path / "ledger.sqlite"
    monkeypatch.setenv("EDS_DB_URL", f"sqlite:///{database}")
    out = tmp_path / "result.json"
    code = main(["evaluate", "--weights", str(shapes_model), "--labels", str(tiny_dataset / "labels.txt"),
                 "--data", str(tiny_dataset), "--split", "test", "--device", "cpu", "--batch-size", "4",
                 "--no-progress", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "mAP@0.5 (VOC2007 11-point)" in printed and "COCO mAP@[.5:.95]" in printed and "circle" in printed
    result = json.loads(out.read_text())
    assert {"map50", "coco_map", "coco_map50", "classes", "images", "images_per_sec", "run_id"} <= result.keys()
    assert result["images"] > 0 and result["images_per_sec"] > 0
    assert result["use_2007_metric"] is True and result["voc_metric"] == "VOC2007 11-point"
    assert len(result["classes"]) == len(read_labels(tiny_dataset / "labels.txt")) - 1
    for value in [result["map50"], result["coco_map"], result["coco_map50"]]:
        assert 0.0 <= value <= 1.0
    for item in result["classes"]:
        assert {"class_id", "name", "ground_truth", "detections", "ap50", "coco_map", "coco_map50"} <= item.keys()
        for key in ("ap50", "coco_map", "coco_map50"):
            assert item[key] is None or 0.0 <= item[key] <= 1.0

    from tests.history_helpers import recorded_run

    run = recorded_run(result["run_id"], f"sqlite:///{database}")
    assert run.kind == "evaluation" and run.status == "succeeded"
    metrics = {(m.name, m.class_name): m.value for m in run.metrics}
    assert metrics[("map50", None)] == pytest.approx(result["map50"])
    assert {m.unit for m in run.metrics if m.name in ("map50", "ap50")} == {"VOC2007 11-point"}
    assert run.params["use_2007_metric"] is True
    assert metrics[("coco_map", None)] == pytest.approx(result["coco_map"])
    assert any(name == "ap50" and class_name for name, class_name in metrics)


def test_cli_rejects_an_unknown_split(tiny_dataset, shapes_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDS_DB_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    code = main(["evaluate", "--weights", str(shapes_model), "--labels", str(tiny_dataset / "labels.txt"),
                 "--data", str(tiny_dataset), "--split", "nope", "--device", "cpu"])
    assert code == 2 and "nope" in capsys.readouterr().err


def test_cli_defaults_to_the_2007_metric_like_eval_ssd():
    common = ["evaluate", "--weights", "w.pth", "--labels", "labels.txt", "--data", "d"]
    assert build_parser().parse_args(common).use_2007_metric is True
    assert build_parser().parse_args([*common, "--no-use-2007-metric"]).use_2007_metric is False
