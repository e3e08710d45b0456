"""SSD prior (anchor) boxes in pytorch-ssd's order and form: center form (cx, cy, w, h), clamped to [0, 1]."""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from core.model.config import IMAGE_SIZE, PRIOR_SPECS, PriorSpec


def _spec_priors(spec: PriorSpec, image_size: int) -> torch.Tensor:
    scale = image_size / spec.shrinkage
    steps = (torch.arange(spec.feature_map_size, dtype=torch.float64) + 0.5) / scale
    cy, cx = torch.meshgrid(steps, steps, indexing="ij")  # rows outer, columns inner
    small = spec.min_size / image_size
    large = math.sqrt(spec.min_size * spec.max_size) / image_size
    shapes = [(small, small), (large, large)]
    for ratio in spec.aspect_ratios:
        root = math.sqrt(ratio)
        shapes += [(small * root, small / root), (small / root, small * root)]
    wh = torch.tensor(shapes, dtype=torch.float64)  # (6, 2)
    centers = torch.stack([cx, cy], dim=-1).reshape(-1, 1, 2).expand(-1, len(shapes), 2)
    return torch.cat([centers, wh.expand_as(centers)], dim=-1).reshape(-1, 4)


@lru_cache(maxsize=4)
def generate_priors(image_size: int = IMAGE_SIZE) -> torch.Tensor:
    """Return the (3000, 4) float32 priors for a 300x300 input, identical to pytorch-ssd's `generate_ssd_priors`."""
    priors = torch.cat([_spec_priors(spec, image_size) for spec in PRIOR_SPECS])
    return priors.to(torch.float32).clamp_(0.0, 1.0)
