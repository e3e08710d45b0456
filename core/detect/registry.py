"""Backends by name, imported lazily so `import core` never needs onnxruntime, TensorRT or pycuda."""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from core.detect.base import Detector, DetectorSpec
from core.errors import UserError

# name -> (module, class, modules that must be importable for it to work here)
BACKENDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "torch": ("core.detect.torch_backend", "TorchDetector", ("torch",)),
    "onnxruntime": ("core.detect.onnxruntime_backend", "OnnxRuntimeDetector", ("onnxruntime",)),
}


def available_backends() -> list[str]:
    """Backends whose runtime libraries are importable on this machine, in preference order."""
    return [
        name
        for name, (_, _, requirements) in BACKENDS.items()
        if all(importlib.util.find_spec(module) is not None for module in requirements)
    ]


def load_detector(spec: DetectorSpec) -> Detector:
    """Instantiate the backend named by `spec.backend`; a bad name or missing runtime is a one-line UserError."""
    if spec.backend not in BACKENDS:
        raise UserError(f"unknown backend {spec.backend!r} (known: {', '.join(BACKENDS)})")
    module_name, class_name, _ = BACKENDS[spec.backend]
    detector_class = getattr(importlib.import_module(module_name), class_name)
    return detector_class(spec)


def spec_for(weights: str | Path, labels: str | Path, backend: str = "torch", **options) -> DetectorSpec:
    """Convenience constructor that accepts plain strings."""
    return DetectorSpec(weights=Path(weights), labels=Path(labels), backend=backend, **options)
