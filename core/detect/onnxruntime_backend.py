"""ONNX Runtime backend: runs the detectNet-style graph (`input_0` -> `scores`, `boxes`) on CPU or the CUDA provider.

Accepts an exported `.onnx` (FP32 or INT8-quantized) or a `.pth`, which it exports in memory first. Its precision
is read from the graph itself (quantization nodes make it int8), never taken from the spec.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import torch

from core.detect.base import Detections, DetectorSpec
from core.detect.preprocess import normalize_numpy
from core.detect.staged import detect_in_stages
from core.errors import BackendUnavailable, UserError
from core.model import read_labels

INPUT_NAME = "input_0"
OUTPUT_NAMES = ("scores", "boxes")
QUANTIZED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
                           "MatMulInteger", "DynamicQuantizeLinear"})


def model_precision(model: bytes | str) -> str:
    """"int8" when the ONNX graph (bytes or a file path) holds quantization nodes, else "fp32"."""
    loaded = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model, load_external_data=False)
    return "int8" if any(node.op_type in QUANTIZED_OPS for node in loaded.graph.node) else "fp32"


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise BackendUnavailable(f"onnxruntime is not installed ({error})") from None
    return onnxruntime


def _providers(onnxruntime, device: str) -> list[str]:
    available = onnxruntime.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise BackendUnavailable("device cuda requested but onnxruntime has no CUDAExecutionProvider here")
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxRuntimeDetector:
    backend = "onnxruntime"

    def __init__(self, spec: DetectorSpec) -> None:
        onnxruntime = _onnxruntime()
        self.class_names = read_labels(spec.labels)
        self.score_threshold = spec.score_threshold
        self.name = spec.weights.stem
        model = self._model_bytes(spec)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if spec.threads:
            options.intra_op_num_threads = spec.threads
            options.inter_op_num_threads = 1
        # Idle intra-op threads sleep instead of spinning: between two inferences the caller resizes, decodes and
        # runs NMS on the same few cores, and spinning workers starved it (2 threads on 2 cores: detect() 11.1 ms
        # spinning vs 6.8 ms on one thread for the INT8 demo model, measured side by side).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = _providers(onnxruntime, spec.device)
        try:
            self._session = onnxruntime.InferenceSession(model, options, providers=providers)
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
            raise UserError(f"onnxruntime cannot load {spec.weights.name}: {str(error).splitlines()[0][:200]}") from None
        self.device = "cuda" if self._session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        self._check_io(spec)
        self.precision = model_precision(model)
        batch_dim = self._session.get_inputs()[0].shape[0]
        self.fixed_batch = batch_dim if isinstance(batch_dim, int) else None

    @staticmethod
    def _model_bytes(spec: DetectorSpec) -> bytes | str:
        suffix = spec.weights.suffix.lower()
        if suffix == ".onnx":
            if not spec.weights.is_file():
                raise UserError(f"model file not found: {spec.weights}")
            return str(spec.weights)
        if suffix in (".pth", ".pt"):
            from core.model.onnx_export import export_onnx_bytes

            return export_onnx_bytes(spec.weights, spec.labels, dynamic_batch=True)
        raise UserError(f"the onnxruntime backend loads .onnx (or .pth, exported on the fly), not {spec.weights.name}")

    def _check_io(self, spec: DetectorSpec) -> None:
        inputs = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        if inputs != [INPUT_NAME] or sorted(outputs) != sorted(OUTPUT_NAMES):
            raise UserError(
                f"{spec.weights.name} is not a pytorch-ssd detectNet graph: inputs {inputs}, outputs {outputs} "
                f"(expected [{INPUT_NAME}] -> {list(OUTPUT_NAMES)})"
            )
        classes = self._session.get_outputs()[outputs.index("scores")].shape[-1]
        if isinstance(classes, int) and classes != len(self.class_names):
            raise UserError(f"{spec.weights.name} outputs {classes} classes but labels.txt lists {len(self.class_names)}")

    def infer(self, resized: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (scores, boxes) for a resized (N,300,300,3) uint8 BGR batch; a fixed-batch graph runs frame by frame."""
        if self.fixed_batch not in (None, 1) and len(resized) % self.fixed_batch:
            raise UserError(f"this ONNX model has a fixed batch of {self.fixed_batch}; got {len(resized)} frames")
        batch = normalize_numpy(resized)
        step = self.fixed_batch or len(batch)
        results = [
            self._session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch[start : start + step]})
            for start in range(0, len(batch), step)
        ]
        scores = np.concatenate([r[0] for r in results])
        boxes = np.concatenate([r[1] for r in results])
        return torch.from_numpy(scores), torch.from_numpy(boxes)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return detect_in_stages(self.infer, frames, self.score_threshold)

    def close(self) -> None:
        self._session = None
