"""Fixed SSD configuration of pytorch-ssd's mobilenetv1_ssd_config: input size, normalization, prior specs."""
from __future__ import annotations

from dataclasses import dataclass

IMAGE_SIZE = 300
IMAGE_MEAN = 127.0  # the same for R, G and B
IMAGE_STD = 128.0
IOU_THRESHOLD = 0.45
CANDIDATE_SIZE = 200
CENTER_VARIANCE = 0.1
SIZE_VARIANCE = 0.2
ANCHORS_PER_LOCATION = 6
BACKGROUND = "BACKGROUND"


@dataclass(frozen=True)
class PriorSpec:
    """One feature map's anchors: grid size, stride in input pixels, (min, max) box side, aspect ratios."""

    feature_map_size: int
    shrinkage: int
    min_size: int
    max_size: int
    aspect_ratios: tuple[int, ...] = (2, 3)


PRIOR_SPECS: tuple[PriorSpec, ...] = (
    PriorSpec(19, 16, 60, 105),
    PriorSpec(10, 32, 105, 150),
    PriorSpec(5, 64, 150, 195),
    PriorSpec(3, 100, 195, 240),
    PriorSpec(2, 150, 240, 285),
    PriorSpec(1, 300, 285, 330),
)
