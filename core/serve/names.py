"""Triton Inference Server names and defaults, in one place for the server (`core serve`), the client (`--backend
triton`), the repository writers and the commands. Standard library only, so a command's parser reads them without
loading torch.

The tensors mode's names (`input_0`, `scores`, `boxes`) are the ONNX graph's own, in `core.model.onnx_names`.
"""
from __future__ import annotations

DEFAULT_MODEL_NAME = "ssd"
DEFAULT_HTTP_PORT = 8000  # Triton's own defaults, which NVIDIA's container uses too
DEFAULT_GRPC_PORT = 8001
DEFAULT_METRICS_PORT = 8002
DEFAULT_MAX_BATCH = 32
DEFAULT_QUEUE_DELAY_US = 2000  # on a GPU: a short wait fills batches, which cost little more than one frame
CPU_QUEUE_DELAY_US = 0  # on CPU instances a batch costs about its frames' sum, and one camera keeps one request in
# flight: a wait only left an instance idle (4 cameras on 2 cores: 97.7 frames/s with 2 ms, 108.1 with none)
DEFAULT_INSTANCES = 2  # `core serve`: model instances, each a process running one batch at a time
PRECISION_PARAMETER = "precision"  # a model-config parameter: what the server runs, as the client reports it

INPUT_MODES = ("frames", "tensors")  # `core serve --input`: BGR frames in, detections out / preprocessed tensors in
DEFAULT_INPUT = "frames"  # what a camera client has; tensors is the mode NVIDIA's container serves
NETWORK_BACKENDS = ("torch", "onnxruntime")  # run the network alone (--input tensors)
FRAMES_BACKENDS = (*NETWORK_BACKENDS, "tensorrt")  # run the whole detector (--input frames)

FRAMES_INPUT = "frames"  # UINT8 [-1,-1,3]: one BGR frame of any size per batch row
FRAME_OUTPUTS = ("boxes", "scores", "labels", "count")  # FP32 [-1,4], FP32 [-1], INT32 [-1], INT32 [1]
PADDING_LABEL = -1  # the label of the rows past `count`

# `export-triton --format`: the repository's platform and model file for each (NVIDIA's container serves either)
MODEL_PLATFORMS = {"onnx": ("onnxruntime_onnx", "model.onnx"), "tensorrt": ("tensorrt_plan", "model.plan")}
TENSORRT_PRECISIONS = ("fp32", "fp16")  # what `export-triton --format tensorrt` builds


def default_queue_delay_us(device: str) -> int:
    """The dynamic batcher's wait for a server whose instances run on `device` ("cpu" or "cuda")."""
    return CPU_QUEUE_DELAY_US if device == "cpu" else DEFAULT_QUEUE_DELAY_US
