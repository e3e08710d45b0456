"""Optimization jobs: training, INT8 quantization, engine builds, evaluation, and `optimize` over the targets table
(`core.optimize.formats`). The ONNX export of the network lives beside it, in `core.model.onnx_export`."""
