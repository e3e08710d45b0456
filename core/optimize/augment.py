"""The SSD augmentation chain of pytorch-ssd's TrainAugmentation, in numpy/OpenCV on pixel boxes.

Photometric distortion (brightness, contrast, saturation, hue, channel swap), zoom-out (expand onto a mean-filled
canvas), IoU-constrained random crop, horizontal mirror; then resize to 300x300 and normalize like inference.
"""
from __future__ import annotations

import cv2
import numpy as np

from core.model.config import IMAGE_MEAN, IMAGE_SIZE, IMAGE_STD

_CROP_MIN_IOUS = (None, 0.1, 0.3, 0.7, 0.9, -1.0)  # None: keep the whole image; -1: any crop
_CROP_TRIALS = 50


def _photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    image = image.astype(np.float32)
    if rng.random() < 0.5:
        image += rng.uniform(-32, 32)
    contrast_first = rng.random() < 0.5
    if contrast_first and rng.random() < 0.5:
        image *= rng.uniform(0.5, 1.5)
    hsv = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
    if rng.random() < 0.5:
        hsv[..., 1] *= rng.uniform(0.5, 1.5)
    if rng.random() < 0.5:
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-9, 9)) % 180  # OpenCV hue is 0..180 (pytorch-ssd: +-18 of 360)
    image = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    if not contrast_first and rng.random() < 0.5:
        image *= rng.uniform(0.5, 1.5)
    if rng.random() < 0.5:
        image = image[..., rng.permutation(3)]
    return np.clip(image, 0, 255)


def _expand(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if rng.random() < 0.5:
        return image, boxes
    height, width = image.shape[:2]
    ratio = rng.uniform(1, 4)
    left, top = int(rng.uniform(0, width * ratio - width)), int(rng.uniform(0, height * ratio - height))
    canvas = np.full((int(height * ratio), int(width * ratio), 3), IMAGE_MEAN, np.float32)
    canvas[top : top + height, left : left + width] = image
    return canvas, boxes + np.array([left, top, left, top], np.float32)


def _iou_with(boxes: np.ndarray, rect: np.ndarray) -> np.ndarray:
    top_left = np.maximum(boxes[:, :2], rect[:2])
    bottom_right = np.minimum(boxes[:, 2:], rect[2:])
    overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return overlap / (areas + np.prod(rect[2:] - rect[:2]) - overlap)


def _crop(image, boxes, labels, rng: np.random.Generator):
    height, width = image.shape[:2]
    while True:
        min_iou = _CROP_MIN_IOUS[rng.integers(len(_CROP_MIN_IOUS))]
        if min_iou is None or len(boxes) == 0:
            return image, boxes, labels
        for _ in range(_CROP_TRIALS):
            crop_w, crop_h = rng.uniform(0.3 * width, width), rng.uniform(0.3 * height, height)
            if not 0.5 <= crop_h / crop_w <= 2:
                continue
            left, top = rng.uniform(0, width - crop_w), rng.uniform(0, height - crop_h)
            rect = np.array([left, top, left + crop_w, top + crop_h], np.float32).astype(int).astype(np.float32)
            if _iou_with(boxes, rect).max() < min_iou:
                continue
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            inside = ((centres > rect[:2]) & (centres < rect[2:])).all(axis=1)
            if not inside.any():
                continue
            kept = boxes[inside].copy()
            kept[:, :2] = np.maximum(kept[:, :2], rect[:2]) - rect[:2]
            kept[:, 2:] = np.minimum(kept[:, 2:], rect[2:]) - rect[:2]
            x1, y1, x2, y2 = rect.astype(int)
            return image[y1:y2, x1:x2], kept, labels[inside]


def resize_normalize(image: np.ndarray) -> np.ndarray:
    """BGR image (any dtype) -> (3,300,300) float32 RGB, (x-127)/128: the inference preprocessing."""
    resized = cv2.resize(image.astype(np.float32), (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(((resized[..., ::-1] - IMAGE_MEAN) / IMAGE_STD).transpose(2, 0, 1), np.float32)


def augment(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """One training sample: returns (normalized (3,300,300) input, normalized corner boxes (M,4), labels (M,))."""
    image = _photometric(image, rng)
    image, boxes = _expand(image, boxes.astype(np.float32), rng)
    image, boxes, labels = _crop(image, boxes, labels, rng)
    height, width = image.shape[:2]
    if rng.random() < 0.5:
        image = image[:, ::-1]
        boxes = boxes.copy()
        boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    normalized = boxes / np.array([width, height, width, height], np.float32)
    return resize_normalize(image), normalized.astype(np.float32), labels
