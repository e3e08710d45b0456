"""Shared fixtures: a seeded random-init pytorch-ssd checkpoint with labels, and test frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.model import build_mobilenet_v1_ssd
from core.model.checkpoint import save_state_dict, write_labels

TEST_CLASSES = ["BACKGROUND", "Armadillo", "Blue jay", "Rhinoceros", "Sea turtle", "Sparrow", "Whale", "Zebra"]


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> tuple[Path, Path]:
    """(weights.pth, labels.txt) of a seeded random-init 8-class mb1-ssd in pytorch-ssd's on-disk format."""
    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(1234)
    network = build_mobilenet_v1_ssd(len(TEST_CLASSES))
    weights = save_state_dict(network, folder / "mb1-ssd-Epoch-0-Loss-9.876.pth")
    labels = write_labels(TEST_CLASSES, folder / "labels.txt")
    return weights, labels


@pytest.fixture(scope="session")
def frames() -> list[np.ndarray]:
    """Eight BGR frames of different sizes with some structure (gradients and filled shapes)."""
    rng = np.random.default_rng(7)
    sizes = [(480, 640), (480, 640), (360, 480), (720, 1280), (300, 300), (240, 320), (480, 640), (123, 457)]
    result = []
    for height, width in sizes:
        frame = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
        y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
        frame[y0 : y0 + height // 3, x0 : x0 + width // 3] = rng.integers(100, 255, 3, dtype=np.uint8)
        result.append(frame)
    return result
