"""The network a server runs: preprocessed FP32 (N,3,300,300) in, raw `scores` (N,3000,C) and `boxes` (N,3000,4) out.

This is exactly what the exported ONNX graph computes, so our server and NVIDIA's Triton with the ONNX Runtime or
TensorRT backend answer the same requests; decoding and NMS stay with the client.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.errors import UserError
from core.serve.names import NETWORK_BACKENDS

NetworkCall = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # (N,3,300,300) -> (scores, boxes)


@dataclass
class ServedNetwork:
    """A loaded network and what it really runs at."""

    run: NetworkCall
    class_names: list[str]
    backend: str
    device: str
    precision: str


def _torch_network(weights: Path, labels: Path, device: str, precision: str, threads: int | None) -> ServedNetwork:
    from core.detect.torch_device import bf16_supported, memory_format, resolve_torch_device, select_dtype
    from core.model import SSDInference, load_model

    device = resolve_torch_device(device)
    if threads:
        torch.set_num_threads(threads)
    precision = "fp32" if precision == "auto" else precision
    dtype = select_dtype(precision, device, bf16_supported=bf16_supported(device))
    layout = memory_format(device)
    loaded = load_model(weights, labels)
    model = SSDInference(loaded.network).to(device, dtype).eval().to(memory_format=layout)

    @torch.inference_mode()
    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores, boxes = model(torch.from_numpy(batch).to(device, dtype).contiguous(memory_format=layout))
        return scores.float().cpu().numpy(), boxes.float().cpu().numpy()

    return ServedNetwork(run, loaded.class_names, "torch", device, precision)


def _onnxruntime_network(weights: Path, labels: Path, device: str, precision: str,
                         threads: int | None) -> ServedNetwork:
    import onnxruntime

    from core.model import read_labels
    from core.model.onnx_export import export_onnx_bytes
    from core.model.onnx_names import INPUT_NAME, OUTPUT_NAMES
    from core.model.onnx_precision import model_precision

    if weights.suffix.lower() == ".onnx":
        if not weights.is_file():
            raise UserError(f"model file not found: {weights}")
        model: bytes | str = str(weights)
    else:
        model = export_onnx_bytes(weights, labels, dynamic_batch=True)
    available = onnxruntime.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise UserError("device cuda requested but onnxruntime has no CUDAExecutionProvider here")
    on_gpu = device in ("auto", "cuda") and "CUDAExecutionProvider" in available
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if on_gpu else ["CPUExecutionProvider"]
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(model, options, providers=providers)

    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores, boxes = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
        return scores, boxes

    return ServedNetwork(run, read_labels(labels), "onnxruntime", "cuda" if on_gpu else "cpu", model_precision(model))


def load_network(weights: Path, labels: Path, *, backend: str = "torch", device: str = "auto",
                 precision: str = "auto", threads: int | None = None) -> ServedNetwork:
    """The network of `weights` on `backend`, at exactly `precision` ("auto": what the file is)."""
    if backend not in NETWORK_BACKENDS:
        raise UserError(f"core serve runs the network with {' or '.join(NETWORK_BACKENDS)}, not {backend}")
    loader = _torch_network if backend == "torch" else _onnxruntime_network
    network = loader(Path(weights), Path(labels), device, precision, threads)
    if precision not in ("auto", network.precision):
        raise UserError(f"{Path(weights).name} runs at {network.precision} on {backend}, not {precision}")
    return network
