"""The precision an ONNX graph runs at, read from the graph itself: quantization nodes make it int8, never a name or a
spec; one rule for the ONNX Runtime backend, the served network and the quantization's checks."""
from __future__ import annotations

import onnx

QUANTIZED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
                           "MatMulInteger", "DynamicQuantizeLinear"})


def model_precision(model: onnx.ModelProto | bytes | str) -> str:
    """"int8" when the ONNX graph (a loaded model, bytes or a file path) holds quantization nodes, else "fp32"."""
    if isinstance(model, bytes):
        model = onnx.load_from_string(model)
    elif isinstance(model, str):
        model = onnx.load(model, load_external_data=False)
    return "int8" if any(node.op_type in QUANTIZED_OPS for node in model.graph.node) else "fp32"
