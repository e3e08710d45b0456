"""INT8 quantization: calibration images preprocessed exactly like inference, short and corrupt sets reported,
the quantized model's precision read from its graph, and the optimization targets table."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import onnx
import pytest

from core.detect import DetectorSpec, load_detector
from core.detect.preprocess import normalize_numpy
from core.errors import UserError
from core.model.onnx_export import export_onnx
from core.model.onnx_names import PIXELS_NAME
from core.model.onnx_precision import model_precision
from core.optimize.formats import TARGETS, TARGETS_BY_NAME, lineage, parse_targets, unavailable_reason
from core.optimize.quantize import (
    CalibrationReport,
    ImageCalibrationReader,
    pick_calibration_images,
    quantize_onnx,
    tail_nodes,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def fp32_onnx(random_model, tmp_path_factory):
    weights, labels = random_model
    return export_onnx(weights, labels, tmp_path_factory.mktemp("onnx") / "m.onnx", dynamic_batch=True)


@pytest.fixture()
def image_files(frames, tmp_path):
    paths = []
    for index, frame in enumerate(frames[:4]):
        path = tmp_path / f"image-{index}.png"
        cv2.imwrite(str(path), frame)
        paths.append(path)
    return paths


def _drain(reader: ImageCalibrationReader) -> list[dict]:
    fed = []
    while (feed := reader.get_next()) is not None:
        fed.append(feed)
    return fed


class _CapturingSession:
    """Stands in for the onnxruntime session to record exactly what the detector feeds the network."""

    def __init__(self, session) -> None:
        self.session, self.feeds = session, []

    def run(self, outputs, feed):
        # the session's graph normalizes the uint8 frames itself, exactly as normalize_numpy does
        self.feeds.append(normalize_numpy(feed[PIXELS_NAME]))
        return self.session.run(outputs, feed)


def test_calibration_tensors_equal_the_detector_input(random_model, fp32_onnx, image_files):
    _, labels = random_model
    detector = load_detector(DetectorSpec(fp32_onnx, labels, backend="onnxruntime", device="cpu"))
    capture = _CapturingSession(detector._session)
    detector._session = capture
    for path in image_files:
        detector.detect([cv2.imread(str(path))])
    report = CalibrationReport(requested=len(image_files), available=len(image_files))
    fed = _drain(ImageCalibrationReader(image_files, report))
    assert len(fed) == len(capture.feeds) == len(image_files)
    for calibration, inference in zip(fed, capture.feeds):
        assert calibration["input_0"].dtype == np.float32 and calibration["input_0"].shape == (1, 3, 300, 300)
        np.testing.assert_array_equal(calibration["input_0"], inference)


def test_smaller_calibration_set_is_reported(image_files, caplog):
    with caplog.at_level(logging.WARNING):
        chosen, report = pick_calibration_images(image_files + image_files[:1], 10)
    assert sorted(chosen) == sorted(image_files)
    assert (report.requested, report.available) == (10, 4)
    _drain(ImageCalibrationReader(chosen, report))
    assert report.used == 4 and report.short
    assert "10 images requested but only 4 available" in caplog.text


def test_calibration_subset_is_seeded(image_files):
    first, report = pick_calibration_images(image_files, 2, seed=3)
    again, _ = pick_calibration_images(image_files, 2, seed=3)
    assert first == again and len(first) == 2 and (report.requested, report.available) == (2, 4)


def test_corrupt_image_is_skipped_and_counted(image_files, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    report = CalibrationReport(requested=5, available=5)
    fed = _drain(ImageCalibrationReader([image_files[0], broken, *image_files[1:]], report))
    assert len(fed) == 4 and (report.used, report.corrupt) == (4, 1)


def test_quantized_model_runs_and_reports_int8(random_model, fp32_onnx, image_files, tmp_path):
    _, labels = random_model
    chosen, report = pick_calibration_images(image_files, 4)
    path = quantize_onnx(fp32_onnx, tmp_path / "int8.onnx", ImageCalibrationReader(chosen, report))
    assert not list(tmp_path.glob(".*.tmp"))
    model = onnx.load(str(path))
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and "Softmax" in ops
    assert model_precision(str(path)) == "int8" and model_precision(str(fp32_onnx)) == "fp32"
    int8 = load_detector(DetectorSpec(path, labels, backend="onnxruntime", device="cpu", precision="int8"))
    fp32 = load_detector(DetectorSpec(fp32_onnx, labels, backend="onnxruntime", device="cpu"))
    assert (int8.precision, fp32.precision) == ("int8", "fp32")
    auto = load_detector(DetectorSpec(path, labels, backend="onnxruntime", device="cpu"))  # precision "auto"
    assert auto.precision == "int8"  # what the file is, never a label copied from the request
    auto.close()
    with pytest.raises(UserError, match="runs at int8"):
        load_detector(DetectorSpec(path, labels, backend="onnxruntime", device="cpu", precision="fp32"))
    image = cv2.imread(str(image_files[0]))
    scores_int8, _ = int8.infer(cv2.resize(image, (300, 300))[None])
    scores_fp32, _ = fp32.infer(cv2.resize(image, (300, 300))[None])
    assert np.abs(scores_int8.numpy() - scores_fp32.numpy()).max() < 0.5


def test_trunk_scope_keeps_only_the_tail_in_float(fp32_onnx):
    model = onnx.load(str(fp32_onnx))
    tail = set(tail_nodes(model))
    by_name = {node.name: node.op_type for node in model.graph.node}
    assert {by_name[name] for name in tail} >= {"Softmax", "Exp", "Div"}
    assert "Conv" not in {by_name[name] for name in tail} and "Relu" not in {by_name[name] for name in tail}


def test_quantize_refuses_unknown_method(fp32_onnx, image_files, tmp_path):
    report = CalibrationReport(requested=1, available=1)
    with pytest.raises(UserError, match="unknown calibration method"):
        quantize_onnx(fp32_onnx, tmp_path / "x.onnx", ImageCalibrationReader(image_files[:1], report), method="kl")
    assert not (tmp_path / "x.onnx").exists()


def test_target_table_and_availability():
    assert [t.name for t in TARGETS] == ["torch-fp32", "torch-fp16", "torch-bf16", "ort-fp32", "ort-int8",
                                         "trt-fp32", "trt-fp16", "trt-int8"]
    int8 = TARGETS_BY_NAME["trt-int8"]
    assert unavailable_reason(int8, has_cuda=lambda: True,
                              importable=lambda m: m != "pycuda") == "pycuda not importable"
    assert unavailable_reason(int8, has_cuda=lambda: False, importable=lambda m: False) == \
        "tensorrt and pycuda not importable"
    # TensorRT targets ask the CUDA driver, not torch (a Jetson's PyPI torch sees no GPU)
    assert unavailable_reason(int8, has_cuda=lambda: False, importable=lambda m: True, gpus=lambda: 1) is None
    assert unavailable_reason(int8, has_cuda=lambda: True, importable=lambda m: True, gpus=lambda: 0) == \
        "no CUDA GPU (the CUDA driver sees none)"
    assert unavailable_reason(TARGETS_BY_NAME["torch-fp16"], has_cuda=lambda: False) == "no CUDA GPU"
    assert unavailable_reason(TARGETS_BY_NAME["ort-int8"], has_cuda=lambda: False) is None
    assert [t.name for t in lineage([TARGETS_BY_NAME["ort-int8"]])] == ["torch-fp32", "ort-fp32", "ort-int8"]
    assert [t.name for t in parse_targets("ort-int8, torch-fp32")] == ["torch-fp32", "ort-int8"]
    with pytest.raises(UserError, match="unknown target"):
        parse_targets("ort-int4")
