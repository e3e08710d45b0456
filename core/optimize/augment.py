"""The SSD augmentation chain of pytorch-ssd's TrainAugmentation, in numpy/OpenCV on pixel boxes.

Photometric distortion (brightness, contrast, saturation, hue, channel swap), zoom-out (expand onto a mean-filled
canvas), IoU-constrained random crop, horizontal mirror; then resize to 300x300 and normalize like inference.

Two forms draw the same random numbers in the same order, so a seed gives the same boxes and labels from both:
`augment_reference` builds each intermediate image as pytorch-ssd does (a zoom-out canvas up to 16 times the
image's area, in float32); `augment` (the default) works out the rectangle arithmetic alone and then samples the
300x300 output straight from the distorted image with one `cv2.warpAffine` whose inverse map is the composition
of expand, crop, mirror and resize: the same sample points and bilinear weights, with the canvas' mean as the
border value. Only the outermost ring of output pixels can differ (a resize repeats the crop's edge pixel where the
warp sees the canvas beyond it). This is 5-10 times cheaper per sample and never allocates the canvas.
"""
from __future__ import annotations

import cv2
import numpy as np

from core.model.box_ops import box_iou
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


def _crop_rect(height: int, width: int, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """The IoU-constrained crop of a (height, width) image: (integer rect x1,y1,x2,y2 or None, boxes, labels)."""
    while True:
        min_iou = _CROP_MIN_IOUS[rng.integers(len(_CROP_MIN_IOUS))]
        if min_iou is None or len(boxes) == 0:
            return None, boxes, labels
        for _ in range(_CROP_TRIALS):
            crop_w, crop_h = rng.uniform(0.3 * width, width), rng.uniform(0.3 * height, height)
            if not 0.5 <= crop_h / crop_w <= 2:
                continue
            left, top = rng.uniform(0, width - crop_w), rng.uniform(0, height - crop_h)
            rect = np.array([left, top, left + crop_w, top + crop_h], np.float32).astype(int).astype(np.float32)
            if box_iou(boxes, rect, eps=0.0).max() < min_iou:
                continue
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            inside = ((centres > rect[:2]) & (centres < rect[2:])).all(axis=1)
            if not inside.any():
                continue
            kept = boxes[inside].copy()
            kept[:, :2] = np.maximum(kept[:, :2], rect[:2]) - rect[:2]
            kept[:, 2:] = np.minimum(kept[:, 2:], rect[2:]) - rect[:2]
            return rect.astype(int), kept, labels[inside]


def _crop(image, boxes, labels, rng: np.random.Generator):
    rect, boxes, labels = _crop_rect(*image.shape[:2], boxes, labels, rng)
    if rect is None:
        return image, boxes, labels
    x1, y1, x2, y2 = rect
    return image[y1:y2, x1:x2], boxes, labels


def _mirror(boxes: np.ndarray, width: int) -> np.ndarray:
    mirrored = boxes.copy()
    mirrored[:, [0, 2]] = width - boxes[:, [2, 0]]
    return mirrored


def normalize(resized: np.ndarray) -> np.ndarray:
    """(300,300,3) BGR -> (3,300,300) float32 RGB, (x-127)/128."""
    return np.ascontiguousarray(((resized[..., ::-1] - IMAGE_MEAN) / IMAGE_STD).transpose(2, 0, 1), np.float32)


def resize_normalize(image: np.ndarray) -> np.ndarray:
    """BGR image (any dtype) -> (3,300,300) float32 RGB, (x-127)/128: the inference preprocessing."""
    return normalize(cv2.resize(image.astype(np.float32), (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR))


def augment_reference(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """pytorch-ssd's chain step by step: returns (normalized (3,300,300) input, normalized corner boxes (M,4),
    labels (M,))."""
    image = _photometric(image, rng)
    image, boxes = _expand(image, boxes.astype(np.float32), rng)
    image, boxes, labels = _crop(image, boxes, labels, rng)
    height, width = image.shape[:2]
    if rng.random() < 0.5:
        image = image[:, ::-1]
        boxes = _mirror(boxes, width)
    normalized = boxes / np.array([width, height, width, height], np.float32)
    return resize_normalize(image), normalized.astype(np.float32), labels


def _sample_geometry(height: int, width: int, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """Expand, crop and mirror on rectangles only, drawing what `augment_reference` draws. Returns the inverse
    affine map (2x3: output pixel -> source pixel) for a 300x300 output, normalized boxes and labels."""
    left = top = 0
    canvas_h, canvas_w = height, width
    if rng.random() >= 0.5:
        ratio = rng.uniform(1, 4)
        left, top = int(rng.uniform(0, width * ratio - width)), int(rng.uniform(0, height * ratio - height))
        canvas_h, canvas_w = int(height * ratio), int(width * ratio)
        boxes = boxes + np.array([left, top, left, top], np.float32)
    rect, boxes, labels = _crop_rect(canvas_h, canvas_w, boxes, labels, rng)
    x1, y1, x2, y2 = (0, 0, canvas_w, canvas_h) if rect is None else rect
    region_w, region_h = x2 - x1, y2 - y1
    scale_x, scale_y = region_w / IMAGE_SIZE, region_h / IMAGE_SIZE
    # cv2.resize samples output pixel u at region x = (u + 0.5) * scale - 0.5; mirroring reads column w-1-x
    offset_x, offset_y = 0.5 * scale_x - 0.5 + x1 - left, 0.5 * scale_y - 0.5 + y1 - top
    if rng.random() < 0.5:
        boxes = _mirror(boxes, region_w)
        scale_x, offset_x = -scale_x, (region_w - 1) - (0.5 * scale_x - 0.5) + x1 - left
    inverse = np.array([[scale_x, 0.0, offset_x], [0.0, scale_y, offset_y]], np.float64)
    normalized = boxes / np.array([region_w, region_h, region_w, region_h], np.float32)
    return inverse, normalized.astype(np.float32), labels


def augment(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """One training sample: returns (normalized (3,300,300) input, normalized corner boxes (M,4), labels (M,))."""
    image = _photometric(image, rng)
    inverse, boxes, labels = _sample_geometry(*image.shape[:2], boxes.astype(np.float32), labels, rng)
    warped = cv2.warpAffine(image, inverse, (IMAGE_SIZE, IMAGE_SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(IMAGE_MEAN,) * 3)
    return normalize(warped), boxes, labels
