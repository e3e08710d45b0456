"""Draw detections on a BGR frame: box, class name and score, one stable colour per class (`core.pictures.drawing`)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.detect.base import Detections
from core.pictures.drawing import class_colour, draw_boxes

__all__ = ["class_colour", "draw_detections"]  # class_colour: the colour each class's detections are drawn in


def draw_detections(frame: np.ndarray, detections: Detections, class_names: Sequence[str]) -> np.ndarray:
    """Return a copy of `frame` with the detections drawn; line width and font scale follow the frame size."""
    return draw_boxes(frame, detections.boxes, detections.scores, detections.labels, class_names)
