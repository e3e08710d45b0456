"""Box IoU and NMS, the one home every IoU user shares: numpy and torch give the same float32 values, and the
plain ratio (eps 0) is what dataset synthesis and the crop augmentation use."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from core.config import REPO_ROOT
from core.model.box_ops import box_area, box_iou, greedy_nms, greedy_nms_keep, pairwise_iou


def _boxes(rng: np.random.Generator, count: int) -> np.ndarray:
    corners = rng.uniform(0, 1, (count, 2))
    return np.concatenate([corners, corners + rng.uniform(0.01, 0.5, (count, 2))], axis=1).astype(np.float32)


def test_hand_checked_iou_plain_and_with_pytorch_ssds_eps():
    a, b = (0, 0, 10, 10), (5, 0, 15, 10)  # overlap 50, union 150
    assert box_iou(a, b, eps=0.0) == pytest.approx(1 / 3, abs=0)
    assert box_iou(a, b) == 50 / (150 + 1e-5)
    assert box_iou(a, (20, 20, 30, 30), eps=0.0) == 0.0
    assert box_area(np.array([[0, 0, 4, 5], [3, 3, 1, 1]])).tolist() == [20, 0]  # an inverted box has no area


def test_numpy_and_torch_iou_agree_bit_for_bit():
    boxes = _boxes(np.random.default_rng(0), 64)
    on_numpy = pairwise_iou(boxes, boxes)
    on_torch = pairwise_iou(torch.from_numpy(boxes), torch.from_numpy(boxes))
    assert on_numpy.dtype == np.float32 and isinstance(on_torch, torch.Tensor)
    assert np.array_equal(on_numpy, on_torch.numpy())
    assert np.array_equal(box_iou(boxes[:, None], boxes[None, :]), on_numpy)


def test_numpy_and_batched_torch_nms_keep_the_same_boxes():
    rng = np.random.default_rng(1)
    for _ in range(20):
        boxes = _boxes(rng, 30)
        kept = greedy_nms(boxes, 0.45)
        mask = greedy_nms_keep(torch.from_numpy(boxes)[None], torch.ones(1, 30, dtype=torch.bool), 0.45)[0]
        assert kept.tolist() == torch.nonzero(mask).flatten().tolist()


def test_iou_imports_without_torch():
    code = "import sys; import core.model.box_ops; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
