"""ONNX Runtime backend: runs the detectNet-style graph (`input_0` -> `scores`, `boxes`) on CPU or the CUDA provider.

Accepts an exported `.onnx` (FP32 or INT8-quantized) or a `.pth`, which it exports in memory first. Its precision
is read from the graph itself (quantization nodes make it int8), never taken from the spec.

The session runs the graph with the predictor's normalization folded in front of it, in memory: the resized
(N,300,300,3) uint8 BGR frames go in, and transpose, BGR->RGB, cast and (x-127)/128 run as ONNX ops (the file on
disk keeps its float `input_0`, so detectNet still loads it). That saves the numpy pass that cost ~0.7 ms a frame
and feeds the runtime a quarter of the bytes.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from core.detect.base import Detections, DetectorSpec
from core.detect.execution_providers import CUDA_PROVIDER, execution_providers, import_onnxruntime
from core.detect.staged import detect_in_stages
from core.errors import UserError
from core.model import read_labels
from core.model.config import IMAGE_MEAN, IMAGE_SIZE, IMAGE_STD
from core.model.onnx_names import INPUT_NAME, OUTPUT_NAMES, PIXELS_NAME, SCORES_NAME
from core.model.onnx_precision import model_precision


def with_pixel_input(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with the predictor's normalization prepended: (N,300,300,3) uint8 BGR `PIXELS_NAME` -> NCHW ->
    RGB -> float32 -> (x-127)/128 -> the graph's `input_0`. Integer pixels make every step exact, so the network
    sees the very values `normalize_numpy` computes. The model is changed in place and returned."""
    graph = model.graph
    originals = [value for value in graph.input if value.name == INPUT_NAME]
    if not originals:
        return model  # _check_io explains what is wrong with such a graph
    batch = originals[0].type.tensor_type.shape.dim[0]
    pixels = helper.make_tensor_value_info(PIXELS_NAME, TensorProto.UINT8,
                                           [batch.dim_param or batch.dim_value or "batch", IMAGE_SIZE, IMAGE_SIZE, 3])
    graph.initializer.extend([
        numpy_helper.from_array(np.array([2, 1, 0], np.int64), "prologue/rgb_order"),
        numpy_helper.from_array(np.array(IMAGE_MEAN, np.float32), "prologue/mean"),
        numpy_helper.from_array(np.array(IMAGE_STD, np.float32), "prologue/std"),
    ])
    prologue = [
        helper.make_node("Transpose", [PIXELS_NAME], ["prologue/nchw"], perm=[0, 3, 1, 2], name="prologue/nchw"),
        helper.make_node("Gather", ["prologue/nchw", "prologue/rgb_order"], ["prologue/rgb"], axis=1,
                         name="prologue/rgb"),
        helper.make_node("Cast", ["prologue/rgb"], ["prologue/float"], to=TensorProto.FLOAT, name="prologue/float"),
        helper.make_node("Sub", ["prologue/float", "prologue/mean"], ["prologue/centered"], name="prologue/centered"),
        helper.make_node("Div", ["prologue/centered", "prologue/std"], [INPUT_NAME], name="prologue/scaled"),
    ]
    nodes = [*prologue, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    inputs = [pixels, *(value for value in graph.input if value.name != INPUT_NAME)]
    del graph.input[:]
    graph.input.extend(inputs)
    return model


class OnnxRuntimeDetector:
    backend = "onnxruntime"

    def __init__(self, spec: DetectorSpec) -> None:
        onnxruntime = import_onnxruntime()
        self.class_names = read_labels(spec.labels)
        self.score_threshold = spec.score_threshold
        self.name = spec.weights.stem
        model = self._model(spec)
        self._check_io(spec, model)
        self.precision = model_precision(model)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if spec.threads:
            options.intra_op_num_threads = spec.threads
            options.inter_op_num_threads = 1
        # Intra-op threads keep ONNX Runtime's default of spinning briefly between parallel sections: with decoding
        # and NMS in numpy (0.07 ms) nothing is starved any more, and detect() on 2 cores is faster spinning (INT8
        # 2.80 vs 3.23-3.29 ms, FP32 7.15-7.27 vs 7.95 ms, measured in alternating runs). The live page runs one
        # thread per pipeline, which has no pool to spin.
        providers = execution_providers(spec.device)
        try:
            self._session = onnxruntime.InferenceSession(with_pixel_input(model).SerializeToString(), options,
                                                         providers=providers)
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
            raise UserError(f"onnxruntime cannot load {spec.weights.name}: {str(error).splitlines()[0][:200]}") from None
        self.device = "cuda" if self._session.get_providers()[0] == CUDA_PROVIDER else "cpu"
        self._check_classes(spec)
        batch_dim = self._session.get_inputs()[0].shape[0]
        self.fixed_batch = batch_dim if isinstance(batch_dim, int) else None

    @staticmethod
    def _model(spec: DetectorSpec) -> onnx.ModelProto:
        suffix = spec.weights.suffix.lower()
        if suffix == ".onnx":
            if not spec.weights.is_file():
                raise UserError(f"model file not found: {spec.weights}")
            try:
                return onnx.load(str(spec.weights))
            except Exception as error:  # protobuf's DecodeError and onnx's own errors
                raise UserError(f"onnxruntime cannot load {spec.weights.name}: "
                                f"{str(error).splitlines()[0][:200] if str(error) else type(error).__name__}") from None
        if suffix in (".pth", ".pt"):
            from core.model.onnx_export import export_onnx_bytes

            return onnx.load_from_string(export_onnx_bytes(spec.weights, spec.labels, dynamic_batch=True))
        raise UserError(f"the onnxruntime backend loads .onnx (or .pth, exported on the fly), not {spec.weights.name}")

    @staticmethod
    def _check_io(spec: DetectorSpec, model: onnx.ModelProto) -> None:
        constants = {initializer.name for initializer in model.graph.initializer}
        inputs = [value.name for value in model.graph.input if value.name not in constants]
        outputs = [value.name for value in model.graph.output]
        if inputs != [INPUT_NAME] or sorted(outputs) != sorted(OUTPUT_NAMES):
            raise UserError(
                f"{spec.weights.name} is not a pytorch-ssd detectNet graph: inputs {inputs}, outputs {outputs} "
                f"(expected [{INPUT_NAME}] -> {list(OUTPUT_NAMES)})"
            )

    def _check_classes(self, spec: DetectorSpec) -> None:
        outputs = [o.name for o in self._session.get_outputs()]
        classes = self._session.get_outputs()[outputs.index(SCORES_NAME)].shape[-1]
        if isinstance(classes, int) and classes != len(self.class_names):
            raise UserError(f"{spec.weights.name} outputs {classes} classes but labels.txt lists {len(self.class_names)}")

    def infer(self, resized: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (scores, boxes) for a resized (N,300,300,3) uint8 BGR batch (normalized inside the graph); a
        fixed-batch graph runs frame by frame."""
        if self.fixed_batch not in (None, 1) and len(resized) % self.fixed_batch:
            raise UserError(f"this ONNX model has a fixed batch of {self.fixed_batch}; got {len(resized)} frames")
        step = self.fixed_batch or len(resized)
        results = [
            self._session.run(list(OUTPUT_NAMES), {PIXELS_NAME: resized[start : start + step]})
            for start in range(0, len(resized), step)
        ]
        scores = np.concatenate([r[0] for r in results])
        boxes = np.concatenate([r[1] for r in results])
        return torch.from_numpy(scores), torch.from_numpy(boxes)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return detect_in_stages(self.infer, frames, self.score_threshold)

    def close(self) -> None:
        self._session = None
