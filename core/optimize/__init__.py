"""Optimization jobs: ONNX export (and later training, quantization, engine builds, evaluation, benchmarks)."""
