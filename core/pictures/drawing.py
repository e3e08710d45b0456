"""Boxes drawn on a BGR picture: box, class name and score (ground truth: the name alone), one stable colour per class, readable at 640x480.

Neutral ground for everything that draws boxes: detections (`core.detect.overlay`, live viewers) and a dataset's
ground truth (`core.data.samples`, the gallery) look the same without the data layer depending on detection.
"""
from __future__ import annotations

import colorsys
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_GOLDEN_RATIO = 0.618033988749895


@lru_cache(maxsize=256)
def class_colour(class_id: int) -> tuple[int, int, int]:
    """A saturated BGR colour that depends only on the class id (hues spread by the golden ratio)."""
    hue = (class_id * _GOLDEN_RATIO) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(blue * 255), int(green * 255), int(red * 255)


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    blue, green, red = background
    return (0, 0, 0) if 0.114 * blue + 0.587 * green + 0.299 * red > 150 else (255, 255, 255)


def draw_boxes(frame: np.ndarray, boxes: np.ndarray, scores: np.ndarray | None, labels: np.ndarray,
               class_names: Sequence[str]) -> np.ndarray:
    """A copy of `frame` with each box (pixel x1, y1, x2, y2) drawn and labelled "name score", or "name" alone
    without `scores` (ground truth has none); line width and font scale follow the frame size."""
    canvas = frame.copy()
    height, width = canvas.shape[:2]
    scale = max(min(width, height) / 480.0, 0.5)
    thickness = max(int(round(2 * scale)), 1)
    font_scale = 0.55 * scale
    for index, (box, label) in enumerate(zip(boxes, labels)):
        colour = class_colour(int(label))
        x1, y1, x2, y2 = (int(round(v)) for v in np.clip(box, -1e6, 1e6))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        name = class_names[int(label)] if 0 <= int(label) < len(class_names) else str(int(label))
        text = name if scores is None else f"{name} {scores[index]:.2f}"
        (text_width, text_height), baseline = cv2.getTextSize(text, _FONT, font_scale, thickness)
        top = y1 - text_height - baseline - 4 if y1 - text_height - baseline - 4 >= 0 else y1
        left = min(max(x1, 0), max(width - text_width - 4, 0))
        cv2.rectangle(canvas, (left, top), (left + text_width + 4, top + text_height + baseline + 4), colour, -1)
        cv2.putText(canvas, text, (left + 2, top + text_height + 2), _FONT, font_scale, _text_colour(colour),
                    thickness, cv2.LINE_AA)
    return canvas
