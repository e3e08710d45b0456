"""`core serve --input frames`: the whole local detector behind Triton, BGR uint8 frames in, detections out.

The bound model takes `frames` UINT8 [-1,-1,3] (a BGR frame of any size per request row) and runs a `core.detect`
detector (resize, normalization, network, decoding, NMS and its score threshold) on each batch. Triton's dynamic
batcher puts only requests of one frame size into a batch, so frames of another size are simply batched apart.
Per frame it answers `boxes` FP32 [-1,4] (pixel x1,y1,x2,y2 of that frame), `scores` FP32 [-1], `labels` INT32 [-1]
and `count` INT32 [1]: the rows of a batch are padded to the frame with the most detections (zero box and score,
label -1) and `count` says how many rows of a frame are real (`core.detect.frame_outputs.pad_detections` /
`unpad_detections`). A batch of empty frames, or of frames larger than the live streams' decoded-picture cap
(EDS_MAX_DECODED_PIXELS, default 3840x2160), fails with a one-line reason.
"""
from __future__ import annotations

import numpy as np

from core.detect.base import Detector
from core.detect.frame_outputs import pad_detections
from core.errors import UserError
from core.serve.models import BoundModel
from core.serve.names import FRAME_OUTPUTS, FRAMES_INPUT

FRAMES_DIMS = (-1, -1, 3)
FRAME_OUTPUT_TENSORS = tuple(zip(FRAME_OUTPUTS, (np.float32, np.float32, np.int32, np.int32),
                                 ((-1, 4), (-1,), (-1,), (1,))))


def check_frames(frames: np.ndarray, max_pixels: int) -> None:
    """Refuse a batch that is not (N,H,W,3) uint8 BGR, or whose frames are empty or above `max_pixels` pixels."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise UserError(f"expected BGR uint8 frames of shape (H, W, 3), got a batch of shape {frames.shape} "
                        f"dtype {frames.dtype}")
    height, width = frames.shape[1:3]
    if height * width == 0:
        raise UserError(f"empty frame of {width}x{height} pixels")
    if height * width > max_pixels:
        raise UserError(f"frame of {width}x{height} = {width * height / 1e6:.1f} MP is above this server's limit "
                        f"of {max_pixels / 1e6:.1f} MP (EDS_MAX_DECODED_PIXELS)")


def frames_model(detector: Detector, max_pixels: int) -> BoundModel:
    """`detector` as the frames-mode model; frames above `max_pixels` pixels are refused."""
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        frames = inputs[FRAMES_INPUT]
        check_frames(frames, max_pixels)
        return pad_detections(detector.detect(list(frames)))

    return BoundModel(infer, ((FRAMES_INPUT, np.uint8, FRAMES_DIMS),), FRAME_OUTPUT_TENSORS,
                      f"detector {detector.backend} {detector.precision} on {detector.device}, "
                      f"score >= {detector.score_threshold:g}")
