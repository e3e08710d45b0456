"""Backends: batched equals single-frame, preprocessing equals the predictor's, torch and onnxruntime agree."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.detect import DetectorSpec, available_backends, load_detector
from core.detect.preprocess import normalize_numpy, preprocess_batch
from core.errors import UserError
from core.model.onnx_export import export_onnx

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def onnx_files(random_model, tmp_path_factory):
    weights, labels = random_model
    folder = tmp_path_factory.mktemp("onnx")
    return (
        export_onnx(weights, labels, folder / "fixed.onnx"),
        export_onnx(weights, labels, folder / "dynamic.onnx", dynamic_batch=True),
    )


def _detector(weights, labels, backend, threshold=0.05):
    return load_detector(DetectorSpec(weights, labels, backend=backend, device="cpu", score_threshold=threshold))


def test_preprocessing_equals_predictor_pipeline(frames):
    resized, sizes = preprocess_batch(frames[:2])
    assert resized.dtype == np.uint8 and resized.shape == (2, 300, 300, 3)
    rgb = cv2.cvtColor(frames[0], cv2.COLOR_BGR2RGB)
    expected = ((cv2.resize(rgb, (300, 300)).astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)
    np.testing.assert_allclose(normalize_numpy(resized)[0], expected, atol=1e-6)
    assert sizes.tolist() == [[640, 480], [640, 480]]


def test_torch_normalizes_on_its_device_like_the_predictor(random_model, frames):
    weights, labels = random_model
    resized, _ = preprocess_batch(frames[:2])
    detector = _detector(weights, labels, "torch")
    scores, boxes = detector.infer(resized)
    import torch

    from core.model import SSDInference, load_model

    reference = SSDInference(load_model(weights, labels).network).eval()
    with torch.no_grad():
        expected_scores, expected_boxes = reference(torch.from_numpy(normalize_numpy(resized)))
    assert torch.allclose(scores, expected_scores, atol=1e-6) and torch.allclose(boxes, expected_boxes, atol=1e-6)


def test_bad_frames_are_rejected_with_one_line():
    with pytest.raises(UserError, match="BGR uint8 frame"):
        preprocess_batch([np.zeros((10, 10), np.uint8)])
    with pytest.raises(UserError, match="BGR uint8 frame"):
        preprocess_batch([np.zeros((10, 10, 3), np.float32)])


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_batch_of_eight_equals_eight_single_calls(random_model, frames, backend):
    weights, labels = random_model
    detector = _detector(weights, labels, backend)
    batched = detector.detect(frames)
    assert len(batched) == 8 and sum(len(d) for d in batched) > 0
    for frame, together in zip(frames, batched):
        (alone,) = detector.detect([frame])
        assert alone.labels.tolist() == together.labels.tolist()
        np.testing.assert_allclose(alone.scores, together.scores, atol=2e-5)
        np.testing.assert_allclose(alone.boxes, together.boxes, atol=0.05)


def test_boxes_are_in_input_frame_pixels(random_model, frames):
    weights, labels = random_model
    detector = _detector(weights, labels, "torch", threshold=0.01)
    small, large = detector.detect([frames[5], cv2.resize(frames[5], (1280, 960))])  # 320x240 and 4x that
    assert small.labels.tolist() == large.labels.tolist()
    np.testing.assert_allclose(large.boxes, small.boxes * 4, rtol=0.05, atol=6)


def test_torch_and_onnxruntime_agree_on_raw_outputs(random_model, onnx_files, frames):
    weights, labels = random_model
    batch, _ = preprocess_batch(frames)
    torch_scores, torch_boxes = _detector(weights, labels, "torch").infer(batch)
    for onnx_file in onnx_files:
        ort_scores, ort_boxes = _detector(onnx_file, labels, "onnxruntime").infer(batch)
        assert float((torch_scores - ort_scores).abs().max()) <= 1e-4
        # boxes are normalized: the largest frame is 1280 px wide, so 0.5 px there is 0.5/1280
        assert float((torch_boxes - ort_boxes).abs().max()) * 1280 <= 0.5


def test_onnxruntime_runs_a_pth_directly(random_model, frames):
    weights, labels = random_model
    from_pth = _detector(weights, labels, "onnxruntime").detect(frames[:2])
    from_torch = _detector(weights, labels, "torch").detect(frames[:2])
    for a, b in zip(from_pth, from_torch):
        assert a.labels.tolist() == b.labels.tolist()


def test_unknown_backend_and_wrong_file_types(random_model, onnx_files):
    weights, labels = random_model
    with pytest.raises(UserError, match="unknown backend"):
        _detector(weights, labels, "tflite")
    with pytest.raises(UserError, match="torch backend loads"):
        _detector(onnx_files[0], labels, "torch")
    assert {"torch", "onnxruntime"} <= set(available_backends())
