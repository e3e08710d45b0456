"""Export a pytorch-ssd checkpoint to the ONNX graph jetson-inference's detectNet loads.

Input `input_0` [N,3,300,300] (RGB, (x-127)/128), outputs `scores` [N,3000,C] (softmaxed) and `boxes` [N,3000,4]
(decoded normalized corners, priors baked in); NMS stays outside. Batch 1 by default, or a dynamic batch axis.
Opset 11 by default: the highest opset the ONNX parser of the oldest supported JetPack's TensorRT (7.1) reads,
and the graph needs nothing newer.
"""
from __future__ import annotations

import io
import logging
import threading
import warnings
from pathlib import Path

import onnx
import torch

from core.errors import UserError
from core.files.atomic import atomic_path
from core.model.checkpoint import load_model
from core.model.config import IMAGE_SIZE
from core.model.mobilenet_ssd import SSDInference
from core.model.onnx_names import INPUT_NAME, OUTPUT_NAMES

log = logging.getLogger(__name__)
DEFAULT_OPSET = 11
_EXPORT_LOCK = threading.Lock()  # torch.onnx.export keeps process-wide state: one export at a time


def check_opset(opset: int | None) -> None:
    """A UserError unless `opset` (None: the default) is one this PyTorch's exporter writes."""
    from torch.onnx import _constants  # the exporter's own range; it raises a bare RuntimeError outside it

    if opset is not None and not _constants.ONNX_MIN_OPSET <= opset <= _constants.ONNX_MAX_OPSET:
        raise UserError(f"ONNX opset {opset} is not one PyTorch {torch.__version__} exports "
                        f"({_constants.ONNX_MIN_OPSET}-{_constants.ONNX_MAX_OPSET}; default {DEFAULT_OPSET})")


def _export(weights: Path, labels: Path, target, *, batch_size: int, dynamic_batch: bool, opset: int | None) -> None:
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    check_opset(opset)
    loaded = load_model(weights, labels)
    model = SSDInference(loaded.network).eval()
    dummy = torch.zeros(batch_size, 3, IMAGE_SIZE, IMAGE_SIZE)
    dynamic_axes = {name: {0: "batch"} for name in [INPUT_NAME, *OUTPUT_NAMES]} if dynamic_batch else None
    with _EXPORT_LOCK, warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python values are expected here
        torch.onnx.export(
            model,
            (dummy,),
            target,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic_axes,
            opset_version=opset or DEFAULT_OPSET,
            dynamo=False,
        )


def export_onnx_bytes(weights: Path, labels: Path, *, dynamic_batch: bool = True,
                      opset: int | None = None) -> bytes:
    """The exported graph as bytes (used by the onnxruntime backend to run a .pth directly)."""
    buffer = io.BytesIO()
    _export(Path(weights), Path(labels), buffer, batch_size=1, dynamic_batch=dynamic_batch, opset=opset)
    return buffer.getvalue()


def export_onnx(
    weights: str | Path,
    labels: str | Path,
    output: str | Path,
    *,
    batch_size: int = 1,
    dynamic_batch: bool = False,
    opset: int | None = None,
) -> Path:
    """Write the ONNX file atomically and validate it with onnx.checker; returns its path (opset None: 11)."""
    output = Path(output)
    with atomic_path(output) as temporary:
        _export(Path(weights), Path(labels), str(temporary), batch_size=batch_size, dynamic_batch=dynamic_batch, opset=opset)
        onnx.checker.check_model(str(temporary), full_check=True)
    log.info("exported %s -> %s", weights, output)
    return output


def describe_onnx(path: str | Path) -> dict:
    """Input/output names and shapes plus opset of an ONNX file (symbolic dims as their names)."""
    model = onnx.load(str(path), load_external_data=False)

    def shape(value) -> list:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    return {
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": {v.name: shape(v) for v in model.graph.input},
        "outputs": {v.name: shape(v) for v in model.graph.output},
    }
