"""The bundled demo weights: they load as a pytorch-ssd checkpoint, reach mAP@0.5 >= 0.80 on synthetic data they
never saw (a fresh seed), and torch and onnxruntime evaluate them alike (within 0.005 mAP)."""
from __future__ import annotations

import pytest

from core.catalog import find_models
from core.config import DEMO_DIR, load_settings
from core.data.readers import open_split, read_dataset
from core.data.synthetic import make_synthetic_dataset
from core.detect import load_detector
from core.model import load_model
from core.optimize.evaluate import evaluate, evaluation_spec

pytestmark = pytest.mark.timeout(300)
WEIGHTS = DEMO_DIR / "mb1-ssd-demo-fp16.pth"
LABELS = DEMO_DIR / "labels.txt"


def test_demo_weights_are_a_small_pytorch_ssd_checkpoint():
    loaded = load_model(WEIGHTS, LABELS)
    assert loaded.class_names == ["BACKGROUND", "circle", "cross", "heart", "ring", "square", "star", "triangle"]
    assert WEIGHTS.stat().st_size < 16 * 1024 * 1024  # fp16 state_dict
    assert find_models(load_settings())[0].weights == WEIGHTS


@pytest.fixture(scope="module")
def unseen_split(tmp_path_factory):
    root = make_synthetic_dataset(tmp_path_factory.mktemp("unseen") / "shapes", images=300, seed=2026)
    return open_split(read_dataset(root), "test", load_model(WEIGHTS, LABELS).class_names)


def test_demo_weights_reach_map_080_and_backends_agree(unseen_split):
    results = {}
    for backend in ("torch", "onnxruntime"):
        detector = load_detector(evaluation_spec(WEIGHTS, LABELS, backend=backend, device="cpu"))
        results[backend] = evaluate(detector, unseen_split, batch_size=8, progress=False)
    torch_map, ort_map = results["torch"].map50, results["onnxruntime"].map50
    assert torch_map >= 0.80, results["torch"].to_dict()
    assert abs(torch_map - ort_map) <= 0.005
    assert all(item.ap50 is not None and item.ap50 >= 0.5 for item in results["torch"].classes)
