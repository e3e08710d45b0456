"""ONNX export: the graph jetson-inference's detectNet loads (names, shapes, softmax and decode inside, no NMS)."""
from __future__ import annotations

import json
from collections import Counter

import onnx
import pytest

from core.cli import main
from core.model.onnx_export import describe_onnx, export_onnx

pytestmark = pytest.mark.timeout(120)


def test_fixed_batch_export_matches_detectnet_contract(random_model, tmp_path):
    weights, labels = random_model
    path = export_onnx(weights, labels, tmp_path / "ssd-mobilenet.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    description = describe_onnx(path)
    assert description["inputs"] == {"input_0": [1, 3, 300, 300]}
    assert list(description["outputs"]) == ["scores", "boxes"]
    assert description["outputs"] == {"scores": [1, 3000, 8], "boxes": [1, 3000, 4]}
    ops = Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    assert ops["Softmax"] == 1 and ops["Exp"] == 1 and ops["Conv"] == 47
    assert not {"NonMaxSuppression", "BatchNormalization"} & set(ops)
    assert not list(tmp_path.glob("*.tmp"))


def test_dynamic_batch_option(random_model, tmp_path):
    weights, labels = random_model
    description = describe_onnx(export_onnx(weights, labels, tmp_path / "d.onnx", dynamic_batch=True))
    assert description["inputs"]["input_0"][0] == "batch"
    assert description["outputs"]["boxes"] == ["batch", 3000, 4]


def test_cli_export(random_model, tmp_path, capsys):
    weights, labels = random_model
    assert main(["export-onnx", "--weights", str(weights), "--labels", str(labels),
                 "--output", str(tmp_path / "m.onnx")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["outputs"]["scores"] == [1, 3000, 8] and (tmp_path / "m.onnx").is_file()
