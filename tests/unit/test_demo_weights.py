"""The bundled demo weights: they load as a pytorch-ssd checkpoint and, on cluttered synthetic data they never saw
(a fresh seed), reach about the mAP@0.5 (eval_ssd.py's 11-point VOC 2007 AP, our default) recorded for the training
seed's 400-image test split in assets/demo/evaluation.json (the README's figures), well below perfect: the demo
dataset is hard on purpose, so that optimizations differ. Torch and onnxruntime agreeing is in test_evaluate.py."""
from __future__ import annotations

import json

import pytest

from core.config import DEMO_DIR, load_settings
from core.data.readers import open_split, read_dataset
from core.data.synthetic import make_synthetic_dataset
from core.detect import load_detector
from core.model import load_model
from core.model.catalog import find_models
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


def test_demo_weights_reach_their_recorded_map_on_unseen_data(unseen_split):
    recorded = json.loads((DEMO_DIR / "evaluation.json").read_text())
    detector = load_detector(evaluation_spec(WEIGHTS, LABELS, backend="torch", device="cpu"))
    try:
        result = evaluate(detector, unseen_split, batch_size=8, progress=False)
    finally:
        detector.close()
    assert result.voc_metric == "VOC2007 11-point" and result.ground_truth_boxes >= 60
    assert recorded["map50"] - 0.1 <= result.map50 < 0.95, (recorded["map50"], result.to_dict())
    assert all(item.ap50 is not None and item.ap50 >= 0.5 for item in result.classes), result.to_dict()
    assert result.coco_map >= recorded["coco_map"] - 0.1, (recorded["coco_map"], result.to_dict())
