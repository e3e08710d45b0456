"""Frames -> network input exactly as pytorch-ssd's predictor: resize to 300x300 (bilinear), RGB, (x-127)/128, NCHW.

Split in two: `preprocess_batch` resizes on the CPU and keeps uint8 BGR; the colour swap and normalization then run
where the network runs (ONNX ops prepended to the onnxruntime graph, torch ops in the torch backend, or
`normalize_numpy` here for runtimes that take the float input), so GPU backends upload 4x fewer bytes and the CPU
does no extra pass over the pixels.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from core.errors import UserError
from core.model.config import IMAGE_MEAN, IMAGE_SIZE, IMAGE_STD


def check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise UserError(f"expected a BGR uint8 frame of shape (H, W, 3), got shape {shape} dtype {dtype}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise UserError(f"empty frame of shape {frame.shape}")


def preprocess_batch(frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """BGR uint8 frames -> (N,300,300,3) uint8 BGR resized batch and (N,2) float32 (width, height) of each frame."""
    resized = np.empty((len(frames), IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    sizes = np.empty((len(frames), 2), np.float32)
    for index, frame in enumerate(frames):
        check_frame(frame)
        cv2.resize(frame, (IMAGE_SIZE, IMAGE_SIZE), dst=resized[index], interpolation=cv2.INTER_LINEAR)
        sizes[index] = (frame.shape[1], frame.shape[0])
    return resized, sizes


def network_layout(resized: np.ndarray) -> np.ndarray:
    """(N,300,300,3) uint8 BGR -> (N,3,300,300) uint8 RGB, a view: the network's layout before normalization."""
    return resized[..., ::-1].transpose(0, 3, 1, 2)


def normalize_numpy(resized: np.ndarray) -> np.ndarray:
    """(N,300,300,3) uint8 BGR -> (N,3,300,300) float32 RGB, (x-127)/128: the network's input."""
    rgb_nchw = network_layout(resized).astype(np.float32)
    rgb_nchw -= IMAGE_MEAN
    rgb_nchw /= IMAGE_STD
    return np.ascontiguousarray(rgb_nchw)
