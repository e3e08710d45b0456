"""Fixtures the model commands' unit tests share: the bundled demo model and a tiny synthetic dataset."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import DEMO_DIR
from core.data.synthetic import make_synthetic_dataset

DEMO_WEIGHTS = DEMO_DIR / "mb1-ssd-demo-fp16.pth"
DEMO_LABELS = DEMO_DIR / "labels.txt"


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    """20 synthetic images: 16 train, 2 validation, 2 test."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "synth", images=20, seed=1)
