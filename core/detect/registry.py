"""Backends by name, imported lazily so `import core` never needs onnxruntime, TensorRT or pycuda.

`load_detector` is also where precision honesty is enforced for every command: a precision a backend cannot run
is refused before loading, and a detector whose actual precision differs from the one asked for is refused after.
"""
from __future__ import annotations

import importlib
import importlib.util

from core.detect.base import Detector, DetectorSpec
from core.detect.remote import RemoteClients
from core.errors import UserError

# name -> (module, class, modules that must be importable for it to work here)
BACKENDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "torch": ("core.detect.torch_backend", "TorchDetector", ("torch",)),
    "onnxruntime": ("core.detect.onnxruntime_backend", "OnnxRuntimeDetector", ("onnxruntime",)),
    "tensorrt": ("core.detect.tensorrt_backend", "TensorRtDetector", ("tensorrt", "pycuda")),
    "triton": ("core.detect.triton_backend", "TritonDetector", ("tritonclient.grpc",)),
}

# Precisions each backend can run (kept apart from BACKENDS so adding a backend row stays a one-line edit);
# a backend not listed here is checked only against what it reports after loading.
BACKEND_PRECISIONS: dict[str, tuple[str, ...]] = {
    "torch": ("fp32", "fp16", "bf16"),
    "onnxruntime": ("fp32", "int8"),
    "tensorrt": ("fp32", "fp16", "int8"),
    "triton": ("fp32", "fp16", "bf16", "int8"),  # what the server runs; checked against what it reports
}
# Backends that run on a server, whose detectors take the owner's shared connections (`core.detect.remote`)
REMOTE_BACKENDS = frozenset({"triton"})
GPU_PRECISIONS: dict[str, tuple[str, ...]] = {"torch": ("fp16", "bf16")}
# Frames per network call on a GPU: a larger batch is cut into chunks of this size (torch: past 256 the network's
# throughput is flat); callers sizing batches or warm-ups for the GPU path read it here.
GPU_CHUNK_FRAMES: dict[str, int] = {"torch": 256}
CHECKPOINT_SUFFIXES = (".pth", ".pt")
AUTO_PRECISION = "auto"  # run the model at the precision its file has; the detector then reports which


def available_backends() -> list[str]:
    """Backends whose runtime libraries are importable on this machine, in preference order."""
    return [
        name
        for name, (_, _, requirements) in BACKENDS.items()
        if all(importlib.util.find_spec(module) is not None for module in requirements)
    ]


def check_precision(spec: DetectorSpec) -> None:
    """Refuse, before anything loads, a precision the backend cannot run for this model file and device ("auto"
    takes what the model file is, so it is never refused here)."""
    if spec.precision == AUTO_PRECISION:
        return
    allowed = BACKEND_PRECISIONS.get(spec.backend)
    if allowed is not None and spec.precision not in allowed:
        raise UserError(f"the {spec.backend} backend cannot run {spec.precision} (it runs {', '.join(allowed)})")
    if spec.precision in GPU_PRECISIONS.get(spec.backend, ()) and spec.device == "cpu":
        raise UserError(f"{spec.precision} with the {spec.backend} backend needs a CUDA GPU, not --device cpu")
    if (spec.backend == "onnxruntime" and spec.weights.suffix.lower() in CHECKPOINT_SUFFIXES
            and spec.precision != "fp32"):
        raise UserError(f"onnxruntime runs {spec.weights.name} as fp32 (exported on the fly); for {spec.precision} "
                        f"build a quantized model with `python -m core optimize --targets ort-{spec.precision}`")


def check_actual_precision(spec: DetectorSpec, detector: Detector) -> None:
    """Refuse a detector that would run at another precision than the one asked for (and recorded)."""
    if spec.precision not in (AUTO_PRECISION, detector.precision):
        raise UserError(f"{spec.weights.name} runs at {detector.precision} on the {spec.backend} backend, not "
                        f"{spec.precision}: ask for --precision {detector.precision}")


def load_detector(spec: DetectorSpec, *, remote_clients: RemoteClients | None = None) -> Detector:
    """Instantiate the backend named by `spec.backend` at exactly `spec.precision`; a bad name, a missing runtime
    or a precision it cannot run is a one-line UserError. A remote backend's detector connects through
    `remote_clients` (shared with the other detectors of their owner), or through a connection of its own."""
    if spec.backend not in BACKENDS:
        raise UserError(f"unknown backend {spec.backend!r} (known: {', '.join(BACKENDS)})")
    check_precision(spec)
    module_name, class_name, _ = BACKENDS[spec.backend]
    options = {"clients": remote_clients} if remote_clients is not None and spec.backend in REMOTE_BACKENDS else {}
    detector = getattr(importlib.import_module(module_name), class_name)(spec, **options)
    try:
        check_actual_precision(spec, detector)
    except UserError:
        detector.close()
        raise
    return detector
