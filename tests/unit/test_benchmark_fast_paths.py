"""The CPU fast paths the benchmark measures give the results of the paths they replace: the onnxruntime backend's
normalization folded into the graph (uint8 BGR in), for FP32 and INT8 models, against the float `input_0` graph fed
by `normalize_numpy`."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest

from core.detect import DetectorSpec, load_detector
from core.detect.onnxruntime_backend import with_pixel_input
from core.detect.preprocess import normalize_numpy, preprocess_batch
from core.model.onnx_export import export_onnx
from core.model.onnx_names import INPUT_NAME, PIXELS_NAME


@pytest.fixture(scope="module")
def fp32_onnx(random_model, tmp_path_factory):
    weights, labels = random_model
    return export_onnx(weights, labels, tmp_path_factory.mktemp("onnx") / "model.onnx", dynamic_batch=True), labels


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(count)]


def _reference(path, resized):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["scores", "boxes"], {INPUT_NAME: normalize_numpy(resized)})


def test_folded_prologue_gives_the_float_input_graphs_outputs(fp32_onnx):
    path, labels = fp32_onnx
    resized, _ = preprocess_batch(_frames(3))
    detector = load_detector(DetectorSpec(path, labels, backend="onnxruntime", device="cpu"))
    assert [i.name for i in detector._session.get_inputs()] == [PIXELS_NAME]
    scores, boxes = detector.infer(resized)
    expected_scores, expected_boxes = _reference(path, resized)
    np.testing.assert_allclose(scores.numpy(), expected_scores, atol=1e-5, rtol=0)
    np.testing.assert_allclose(boxes.numpy(), expected_boxes, atol=1e-5, rtol=0)


def test_prologue_computes_exactly_the_normalized_input(fp32_onnx):
    path, _ = fp32_onnx
    model = with_pixel_input(onnx.load(str(path)))
    model.graph.output.append(onnx.helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    resized, _ = preprocess_batch(_frames(2))
    (network_input,) = session.run([INPUT_NAME], {PIXELS_NAME: resized})
    np.testing.assert_array_equal(network_input, normalize_numpy(resized))


def test_file_on_disk_keeps_its_float_input(fp32_onnx):
    path, labels = fp32_onnx
    load_detector(DetectorSpec(path, labels, backend="onnxruntime", device="cpu")).close()
    assert [value.name for value in onnx.load(str(path)).graph.input] == [INPUT_NAME]


def test_int8_model_gets_the_same_prologue(fp32_onnx, tmp_path):
    from core.optimize.quantize import ImageCalibrationReader, pick_calibration_images, quantize_onnx
    from core.pictures.imageio import write_image

    path, labels = fp32_onnx
    images = [write_image(frame, tmp_path / f"{index}.png") for index, frame in enumerate(_frames(4))]
    chosen, report = pick_calibration_images(images, 4)
    int8 = quantize_onnx(path, tmp_path / "model-int8.onnx", ImageCalibrationReader(chosen, report))
    detector = load_detector(DetectorSpec(int8, labels, backend="onnxruntime", device="cpu", precision="int8"))
    resized, _ = preprocess_batch(_frames(2))
    scores, boxes = detector.infer(resized)
    expected_scores, expected_boxes = _reference(int8, resized)
    np.testing.assert_allclose(scores.numpy(), expected_scores, atol=1e-5, rtol=0)
    np.testing.assert_allclose(boxes.numpy(), expected_boxes, atol=1e-5, rtol=0)
