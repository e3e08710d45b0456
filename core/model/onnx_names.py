"""The tensor names of the detectNet ONNX graph, defined once for the exporter, the backends (ONNX Runtime,
TensorRT, Triton), INT8 calibration and what is handed to a Jetson.

jetson-inference's detectNet finds the tensors by these names (`--input-blob=input_0 --output-cvg=scores
--output-bbox=boxes`), so they are part of the exported file's contract.
"""
from __future__ import annotations

INPUT_NAME = "input_0"  # FP32 [N,3,300,300]: RGB, (x-127)/128
SCORES_NAME = "scores"  # FP32 [N,3000,C]: softmaxed class probabilities per prior
BOXES_NAME = "boxes"  # FP32 [N,3000,4]: decoded normalized corners per prior
OUTPUT_NAMES = (SCORES_NAME, BOXES_NAME)
PIXELS_NAME = "frames_bgr_uint8"  # ONNX Runtime's in-memory graph only: (N,300,300,3) uint8 BGR, before input_0
