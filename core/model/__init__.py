"""MobileNet-v1-SSD exactly as dusty-nv/pytorch-ssd builds it (`mb1-ssd`), its priors, box ops and checkpoints.

The names below load on first use, so the numpy-only modules of the package (its configuration, box IoU and NMS)
import without torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.model.checkpoint import LoadedModel, load_model, read_labels
    from core.model.mobilenet_ssd import SSDInference, build_mobilenet_v1_ssd

_HOMES = {"LoadedModel": "core.model.checkpoint", "load_model": "core.model.checkpoint",
          "read_labels": "core.model.checkpoint", "SSDInference": "core.model.mobilenet_ssd",
          "build_mobilenet_v1_ssd": "core.model.mobilenet_ssd"}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
