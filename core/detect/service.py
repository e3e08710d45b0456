"""One call for UIs: image bytes in, annotated PNG bytes and detection records out."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from core.detect.base import Detector
from core.detect.overlay import draw_detections
from core.model.config import IMAGE_SIZE
from core.pictures.imageio import decode_image, encode_image


@dataclass(frozen=True)
class ImageResult:
    annotated_png: bytes
    records: list[dict]
    width: int
    height: int
    milliseconds: float


def warmed_up(detector: Detector) -> Detector:
    """Run one blank frame through `detector` so lazy initialisation is not billed to the first real frame."""
    detector.detect([np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)])
    return detector


def detect_image_bytes(detector: Detector, data: bytes, name: str = "image") -> ImageResult:
    """Decode, detect and draw; a bad image is a one-line UserError."""
    image = decode_image(data, name)
    started = time.perf_counter()
    (detections,) = detector.detect([image])
    elapsed = (time.perf_counter() - started) * 1000
    annotated = draw_detections(image, detections, detector.class_names)
    return ImageResult(encode_image(annotated, ".png"), detections.to_records(detector.class_names),
                       int(image.shape[1]), int(image.shape[0]), elapsed)
