"""Every model command (detect, evaluate, receive) refuses a precision it cannot actually run, with a one-line
error, before it opens anything or records a run."""
from __future__ import annotations

import pytest

from core.cli import main
from core.model.onnx_export import export_onnx
from tests.unit.conftest import DEMO_LABELS, DEMO_WEIGHTS

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def fp32_onnx(random_model, tmp_path_factory):
    weights, labels = random_model
    return export_onnx(weights, labels, tmp_path_factory.mktemp("onnx") / "fp32.onnx", dynamic_batch=True)


@pytest.fixture
def image(frames, tmp_path):
    import cv2

    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), frames[0])
    return path


def _refused(argv: list[str], capsys, expected: str) -> None:
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error and expected in error


def _recorded_runs(tmp_path, capsys) -> str:
    """The history as `runs export` writes it (empty when nothing was recorded)."""
    exported = tmp_path / "history.jsonl"
    assert main(["runs", "export", "--jsonl", str(exported)]) == 0
    capsys.readouterr()
    return exported.read_text()


@pytest.mark.parametrize(("backend", "precision", "device", "expected"), [
    ("onnxruntime", "int8", "cpu", "runs mb1-ssd-Epoch-0-Loss-9.876.pth as fp32"),
    ("torch", "int8", "auto", "the torch backend cannot run int8"),
    ("torch", "fp16", "cpu", "fp16 with the torch backend needs a CUDA GPU"),
    ("torch", "bf16", "cpu", "bf16 with the torch backend needs a CUDA GPU"),
    ("onnxruntime", "fp16", "cpu", "the onnxruntime backend cannot run fp16"),
])
def test_detect_refuses_precisions_it_cannot_run(random_model, image, capsys, backend, precision, device, expected):
    weights, labels = random_model
    _refused(["detect", "--weights", str(weights), "--labels", str(labels), "--image", str(image),
              "--backend", backend, "--precision", precision, "--device", device], capsys, expected)


def test_detect_refuses_int8_of_an_fp32_onnx(random_model, fp32_onnx, image, capsys):
    _, labels = random_model
    _refused(["detect", "--weights", str(fp32_onnx), "--labels", str(labels), "--image", str(image),
              "--backend", "onnxruntime", "--precision", "int8"], capsys,
             "fp32.onnx runs at fp32 on the onnxruntime backend, not int8")


def test_evaluate_refuses_int8_of_an_fp32_model(tiny_dataset, fp32_onnx, tmp_path, capsys):
    _refused(["evaluate", "--weights", str(fp32_onnx), "--labels", str(DEMO_LABELS), "--data", str(tiny_dataset),
              "--backend", "onnxruntime", "--precision", "int8", "--no-progress"], capsys, "runs at fp32")
    assert _recorded_runs(tmp_path, capsys) == ""


def test_evaluate_refuses_int8_on_torch(tiny_dataset, tmp_path, capsys):
    _refused(["evaluate", "--weights", str(DEMO_WEIGHTS), "--labels", str(DEMO_LABELS), "--data", str(tiny_dataset),
              "--precision", "int8"], capsys, "the torch backend cannot run int8")
    assert _recorded_runs(tmp_path, capsys) == ""


def test_receive_refuses_precision_before_opening_the_stream(random_model, capsys):
    weights, labels = random_model
    _refused(["receive", "demo:", "--detect", "--weights", str(weights), "--labels", str(labels),
              "--backend", "onnxruntime", "--precision", "int8", "--frames", "1"], capsys, "as fp32")
