"""The one table of optimization targets (`torch-fp32` ... `trt-int8`) and whether each can run on this machine.

Each row says which backend runs which artifact at which precision, what it needs, the parent it is built from, the
FP32 reference it is compared with and the builder that makes it (`core.optimize.builders`). `core optimize`, its
CLI help, the Compare page and the benchmarks read `TARGETS`; a new target is one row here plus, for a new kind of
artifact, one builder. A target that cannot run here is reported from its row with the reason.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from core.errors import UserError
from core.optimize.builders import (Builder, build_tensorrt_engine, build_tensorrt_int8_engine, export_onnx_graph,
                                    quantize_onnx_int8, run_checkpoint)


@dataclass(frozen=True)
class Target:
    """One optimization target: which backend runs which artifact at which precision, and what it needs."""

    name: str
    backend: str  # a core.detect.registry backend name
    precision: str  # what actually runs: fp32, fp16, bf16 or int8
    format: str  # artifact format recorded in the ledger
    suffix: str  # artifact file suffix
    needs_cuda: bool
    needs_tensorrt: bool
    parent: str | None  # the target whose artifact (or run) this one builds on (None: the .pth itself)
    reference: str  # the FP32 target it is compared with (recorded ΔmAP, output deviation); itself for FP32 rows
    builder: Builder  # makes its artifact from the parent's

    @property
    def is_reference(self) -> bool:
        """Whether this row is the FP32 reference of its backend."""
        return self.reference == self.name

    @property
    def artifact_name(self) -> str:
        """File name of the built artifact (the .pth targets run the checkpoint itself)."""
        return f"model-{self.name}{self.suffix}"


TARGETS: tuple[Target, ...] = (
    Target("torch-fp32", "torch", "fp32", "pth", ".pth", needs_cuda=False, needs_tensorrt=False, parent=None,
           reference="torch-fp32", builder=run_checkpoint),
    Target("torch-fp16", "torch", "fp16", "pth", ".pth", needs_cuda=True, needs_tensorrt=False, parent="torch-fp32",
           reference="torch-fp32", builder=run_checkpoint),
    Target("torch-bf16", "torch", "bf16", "pth", ".pth", needs_cuda=True, needs_tensorrt=False, parent="torch-fp32",
           reference="torch-fp32", builder=run_checkpoint),
    Target("ort-fp32", "onnxruntime", "fp32", "onnx", ".onnx", needs_cuda=False, needs_tensorrt=False,
           parent="torch-fp32", reference="ort-fp32", builder=export_onnx_graph),
    Target("ort-int8", "onnxruntime", "int8", "onnx", ".onnx", needs_cuda=False, needs_tensorrt=False,
           parent="ort-fp32", reference="ort-fp32", builder=quantize_onnx_int8),
    Target("trt-fp32", "tensorrt", "fp32", "engine", ".engine", needs_cuda=True, needs_tensorrt=True,
           parent="ort-fp32", reference="trt-fp32", builder=build_tensorrt_engine),
    Target("trt-fp16", "tensorrt", "fp16", "engine", ".engine", needs_cuda=True, needs_tensorrt=True,
           parent="ort-fp32", reference="trt-fp32", builder=build_tensorrt_engine),
    Target("trt-int8", "tensorrt", "int8", "engine", ".engine", needs_cuda=True, needs_tensorrt=True,
           parent="ort-fp32", reference="trt-fp32", builder=build_tensorrt_int8_engine),
)
TARGETS_BY_NAME: dict[str, Target] = {target.name: target for target in TARGETS}
CPU_TARGETS: tuple[str, ...] = ("torch-fp32", "ort-fp32", "ort-int8")
TENSORRT_TARGETS: tuple[str, ...] = tuple(target.name for target in TARGETS if target.backend == "tensorrt")
TENSORRT_MODULES: tuple[str, ...] = ("tensorrt", "pycuda")

# INT8 calibration options of ort-int8. Defaults chosen by measurement on the demo model (150-image synthetic test
# split): quantizing only the convolution trunk lost 0.16 COCO mAP points with MinMax on 240 images, the whole graph
# 1.44; Entropy and Percentile were no better on 30 images and hold every activation of every image in memory.
CALIBRATION_METHODS: tuple[str, ...] = ("minmax", "entropy", "percentile")
QUANT_SCOPES: tuple[str, ...] = ("trunk", "all")
DEFAULT_METHOD = "minmax"
DEFAULT_SCOPE = "trunk"


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@cache
def cuda_available() -> bool:
    """Whether PyTorch sees a CUDA GPU here (imported lazily: the table itself needs no torch)."""
    import torch

    return bool(torch.cuda.is_available())


@cache
def driver_gpus() -> int:
    """CUDA GPUs the driver itself sees (libcuda, no torch): TensorRT needs the driver, not a CUDA build of torch,
    which a Jetson with PyPI's aarch64 torch does not have."""
    from jetson_kit.cuda import driver_device_count

    return driver_device_count()


def unavailable_reason(target: Target, *, has_cuda: Callable[[], bool] | None = None,
                       importable: Callable[[str], bool] | None = None,
                       gpus: Callable[[], int] | None = None) -> str | None:
    """Why `target` cannot run on this machine, or None when it can (the checks can be replaced for tests).

    TensorRT targets need `tensorrt`, `pycuda` and a GPU the CUDA driver sees; the other CUDA targets (torch) a GPU
    torch sees.
    """
    if target.needs_tensorrt:
        missing = [module for module in TENSORRT_MODULES if not (importable or _importable)(module)]
        if missing:
            return f"{' and '.join(missing)} not importable"
        return None if (gpus or driver_gpus)() > 0 else "no CUDA GPU (the CUDA driver sees none)"
    if target.needs_cuda and not (has_cuda or cuda_available)():
        return "no CUDA GPU"
    return None


def parse_targets(text: str) -> list[Target]:
    """Targets named in a comma-separated list, in table order; an unknown name is a UserError."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TARGETS_BY_NAME]
    if unknown or not names:
        raise UserError(f"unknown target(s) {', '.join(unknown) or '(none given)'} "
                        f"(known: {', '.join(TARGETS_BY_NAME)})")
    return [target for target in TARGETS if target.name in names]


def lineage(targets: Iterable[Target]) -> list[Target]:
    """`targets` plus every ancestor they are built from, parents first (table order is already parents first)."""
    needed = {target.name for target in targets}
    for target in reversed(TARGETS):
        if target.name in needed and target.parent:
            needed.add(target.parent)
    return [target for target in TARGETS if target.name in needed]


def describe_targets() -> str:
    """One line per target for the CLI help: name, backend, precision and what it needs."""
    def needs(target: Target) -> str:
        parts = ["CUDA GPU"] * target.needs_cuda + ["tensorrt+pycuda"] * target.needs_tensorrt
        return ", ".join(parts) or "CPU"

    return "; ".join(f"{t.name} ({t.backend} {t.precision}, {t.suffix}, {needs(t)})" for t in TARGETS)
