"""Batched NMS/postprocessing equals pytorch-ssd's predictor semantics (a plain per-class loop reference)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.detect.postprocess import postprocess, postprocess_numpy, postprocess_torch
from core.model.box_ops import pairwise_iou


def reference_predict(scores, boxes, width, height, threshold, iou_threshold=0.45, candidate_size=200):
    """The predictor's algorithm written as the straightforward loop (facts section 3), for one image."""
    threshold = threshold or 0.01
    picked_boxes, picked_scores, picked_labels = [], [], []
    for class_index in range(1, scores.shape[1]):
        probs = scores[:, class_index]
        mask = probs > threshold
        class_boxes, class_probs = boxes[mask], probs[mask]
        order = torch.argsort(class_probs, descending=True, stable=True)[:candidate_size].tolist()
        while order:
            current = order.pop(0)
            picked_boxes.append(class_boxes[current])
            picked_scores.append(class_probs[current])
            picked_labels.append(class_index)
            if order:
                ious = pairwise_iou(class_boxes[order], class_boxes[current][None])[:, 0]
                order = [index for index, iou in zip(order, ious.tolist()) if iou <= iou_threshold]
    if not picked_boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    result = torch.stack(picked_boxes) * torch.tensor([width, height, width, height])
    return result.numpy(), torch.stack(picked_scores).numpy(), np.array(picked_labels)


def test_hand_checked_overlaps_of_two_classes():
    # 4 priors, 3 classes (BACKGROUND, cat, dog). Boxes 0 and 1 overlap with IoU 0.81; box 2 overlaps box 0 by 0.33.
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.45, 0.45], [0.25, 0.0, 0.75, 0.5], [0.6, 0.6, 1.0, 1.0]]])
    scores = torch.tensor([[
        [0.1, 0.9, 0.0],   # box 0: cat 0.9
        [0.1, 0.8, 0.1],   # box 1: cat 0.8 -> suppressed by box 0 (IoU 0.81 > 0.45)
        [0.3, 0.5, 0.2],   # box 2: cat 0.5 -> kept (IoU 0.33 with box 0); dog 0.2 below threshold
        [0.1, 0.0, 0.9],   # box 3: dog 0.9
    ]])
    (result,) = postprocess(scores, boxes, np.array([[200.0, 100.0]]), score_threshold=0.3)
    assert result.labels.tolist() == [1, 1, 2]  # class by class, ascending
    assert result.scores.tolist() == pytest.approx([0.9, 0.5, 0.9])
    np.testing.assert_allclose(result.boxes, [[0, 0, 100, 50], [50, 0, 150, 50], [120, 60, 200, 100]], atol=1e-4)


def test_iou_exactly_at_threshold_is_kept_and_threshold_is_strict():
    # Two boxes with IoU exactly 1/3 < 0.45, and a score exactly at the threshold (excluded: prob > threshold).
    boxes = torch.tensor([[[0.0, 0.0, 0.2, 0.1], [0.1, 0.0, 0.3, 0.1], [0.5, 0.5, 0.6, 0.6]]])
    scores = torch.tensor([[[0.0, 0.7, 0.3], [0.0, 0.6, 0.4], [0.5, 0.5, 0.0]]])
    (result,) = postprocess(scores, boxes, np.array([[100.0, 100.0]]), score_threshold=0.5)
    assert result.labels.tolist() == [1, 1] and result.scores.tolist() == pytest.approx([0.7, 0.6])


def test_zero_threshold_falls_back_to_predictor_filter_threshold():
    boxes = torch.tensor([[[0.0, 0.0, 0.1, 0.1], [0.5, 0.5, 0.6, 0.6]]])
    scores = torch.tensor([[[0.995, 0.005], [0.98, 0.02]]])
    (result,) = postprocess(scores, boxes, np.array([[10.0, 10.0]]), score_threshold=0.0)
    assert result.scores.tolist() == pytest.approx([0.02])


@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.2, 0.6])
def test_batched_postprocess_equals_reference_loop(threshold):
    generator = torch.Generator().manual_seed(int(threshold * 100))
    batch, priors, classes = 4, 600, 5
    logits = torch.randn(batch, priors, classes, generator=generator) * 3
    scores = torch.softmax(logits, dim=-1)
    centers = torch.rand(batch, priors, 2, generator=generator)
    sizes = torch.rand(batch, priors, 2, generator=generator) * 0.3 + 0.02
    boxes = torch.cat([centers - sizes / 2, centers + sizes / 2], dim=-1)
    sizes_px = np.array([[640, 480], [300, 300], [1280, 720], [77, 33]], np.float32)
    results = postprocess(scores, boxes, sizes_px, score_threshold=threshold)
    for index, result in enumerate(results):
        ref_boxes, ref_scores, ref_labels = reference_predict(scores[index], boxes[index], *sizes_px[index], threshold)
        assert result.labels.tolist() == ref_labels.tolist()
        np.testing.assert_allclose(result.scores, ref_scores, rtol=0, atol=0)
        np.testing.assert_allclose(result.boxes, ref_boxes, rtol=1e-6, atol=1e-3)


def test_empty_when_nothing_passes():
    results = postprocess(torch.full((2, 10, 3), 1 / 3), torch.rand(2, 10, 4), np.ones((2, 2)), score_threshold=0.9)
    assert [len(r) for r in results] == [0, 0]
    assert results[0].boxes.shape == (0, 4)


def _random_outputs(seed: int, batch: int = 3, priors: int = 3000, classes: int = 8, tie_step: float | None = None):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.softmax(torch.randn(batch, priors, classes, generator=generator) * 4, dim=-1)
    if tie_step:  # coarse probabilities make many exact ties, which both paths must break by prior order
        scores = torch.round(scores / tie_step) * tie_step
    centers = torch.rand(batch, priors, 2, generator=generator)
    sizes = torch.rand(batch, priors, 2, generator=generator) * 0.4 + 0.01
    return scores, torch.cat([centers - sizes / 2, centers + sizes / 2], dim=-1)


def _assert_identical(numpy_results, torch_results):
    assert len(numpy_results) == len(torch_results)
    for ours, theirs in zip(numpy_results, torch_results):
        assert ours.labels.dtype == theirs.labels.dtype and ours.boxes.dtype == theirs.boxes.dtype == np.float32
        np.testing.assert_array_equal(ours.labels, theirs.labels)
        np.testing.assert_array_equal(ours.scores, theirs.scores)
        np.testing.assert_array_equal(ours.boxes, theirs.boxes)


@pytest.mark.parametrize(("seed", "threshold", "tie_step"),
                         [(1, 0.0, None), (2, 0.05, None), (3, 0.3, None), (4, 0.6, None), (5, 0.02, 0.01),
                          (6, 0.1, 0.05)])
def test_numpy_path_equals_torch_path_on_random_outputs(seed, threshold, tie_step):
    scores, boxes = _random_outputs(seed, tie_step=tie_step)
    sizes = np.array([[640, 480], [1280, 720], [77, 33]], np.float32)
    numpy_results = postprocess_numpy(scores.numpy(), boxes.numpy(), sizes, threshold)
    _assert_identical(numpy_results, postprocess_torch(scores, boxes, sizes, threshold))
    assert sum(len(r) for r in numpy_results) > 0


def test_numpy_path_caps_candidates_like_the_torch_path():
    scores, boxes = _random_outputs(7, batch=1, classes=2)
    scores[..., 1] = 0.9  # every prior is a candidate of class 1, all tied: only the first 200 priors compete
    sizes = np.array([[300, 300]], np.float32)
    for candidate_size in (1, 5, 200):
        _assert_identical(postprocess_numpy(scores.numpy(), boxes.numpy(), sizes, 0.4, candidate_size=candidate_size),
                          postprocess_torch(scores, boxes, sizes, 0.4, candidate_size=candidate_size))


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.4])
def test_numpy_path_equals_torch_path_on_real_outputs(threshold):
    from core.config import DEMO_DIR, SAMPLES_DIR
    from core.detect import DetectorSpec, load_detector
    from core.detect.preprocess import preprocess_batch
    from core.pictures.imageio import read_image

    detector = load_detector(DetectorSpec(DEMO_DIR / "mb1-ssd-demo-fp16.pth", DEMO_DIR / "labels.txt", device="cpu"))
    frames = [read_image(path) for path in sorted(SAMPLES_DIR.glob("*.jpg"))]
    resized, sizes = preprocess_batch(frames)
    scores, boxes = detector.infer(resized)
    numpy_results = postprocess_numpy(scores.numpy(), boxes.numpy(), sizes, threshold)
    _assert_identical(numpy_results, postprocess_torch(scores, boxes, sizes, threshold))
    assert all(len(result) for result in numpy_results)


def test_cpu_outputs_take_the_numpy_path(monkeypatch):
    import core.detect.postprocess as module

    called = []
    monkeypatch.setattr(module, "postprocess_torch", lambda *a, **k: called.append("torch"))
    scores, boxes = _random_outputs(8, batch=1)
    postprocess(scores, boxes, np.array([[640, 480]]), 0.4)
    postprocess(scores.numpy(), boxes.numpy(), np.array([[640, 480]]), 0.4)
    assert called == []
