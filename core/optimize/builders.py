"""The builders of the optimization targets: one function per kind of artifact, each named by its rows of the
targets table (`core.optimize.formats`), the way Ultralytics' exporter keeps one `export_*` function per format.

A builder takes a `BuildJob` (its target, the parent artifact it builds from, the command's options, the calibration
images and the run it records into) and returns the artifact's path, written under a temporary name and renamed.
`@builder(...)` names the `core optimize` options a builder reads, which its run records in its params, and times
each build. A build that fails raises: its run is marked failed by the recorder and `core.optimize.pipeline` turns
the failure into a reported row instead of ending the other targets. The runtimes (torch, onnx, onnxruntime,
TensorRT) are imported inside the builders, so reading the table imports none of them.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.ledger.recorder import RecordedRun
    from core.optimize.formats import Target
    from core.optimize.pipeline import OptimizeConfig

log = logging.getLogger(__name__)
CALIBRATION_OPTIONS = ("calib_images", "calib_method", "calib_scope", "calib_split")


@dataclass(frozen=True)
class BuildJob:
    """What a builder gets: its target, the parent's artifact (or the .pth), the command's options, the images
    INT8 calibration picks from, and the target's run (for metrics about the build)."""

    target: Target
    source: Path
    config: OptimizeConfig
    calibration_paths: Sequence[Path]
    run: RecordedRun

    @property
    def output(self) -> Path:
        """Where an artifact named after its target goes."""
        return self.config.output / self.target.artifact_name


@dataclass(frozen=True)
class Builder:
    """A builder function and the `core optimize` options it reads (recorded in its run's params)."""

    function: Callable[[BuildJob], Path]
    options: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.function.__name__

    def __call__(self, job: BuildJob) -> Path:
        started = time.perf_counter()
        try:
            artifact = self.function(job)
        except Exception:
            log.info("%s: %s failed after %.1f s", job.target.name, self.name, time.perf_counter() - started)
            raise
        log.info("%s: %s took %.1f s -> %s", job.target.name, self.name, time.perf_counter() - started, artifact.name)
        return artifact


def builder(*options: str) -> Callable[[Callable[[BuildJob], Path]], Builder]:
    """Declare a target builder that reads `options` of the optimize command."""
    def wrap(function: Callable[[BuildJob], Path]) -> Builder:
        return Builder(function, options)

    return wrap


@builder()
def run_checkpoint(job: BuildJob) -> Path:
    """torch rows run the .pth itself: nothing to build."""
    return job.source


@builder("opset")
def export_onnx_graph(job: BuildJob) -> Path:
    """The detectNet ONNX graph of the checkpoint, with a dynamic batch axis."""
    from core.model.onnx_export import export_onnx

    return export_onnx(job.source, job.config.labels, job.output, dynamic_batch=True, opset=job.config.opset)


@builder(*CALIBRATION_OPTIONS)
def quantize_onnx_int8(job: BuildJob) -> Path:
    """ONNX Runtime static INT8 (QDQ) of the FP32 graph, calibrated on real images; records how many it used."""
    from core.optimize.quantize import ImageCalibrationReader, pick_calibration_images, quantize_onnx

    config = job.config
    chosen, report = pick_calibration_images(job.calibration_paths, config.calib_images)
    reader = ImageCalibrationReader(chosen, report, progress=config.progress)
    quantize_onnx(job.source, job.output, reader, method=config.calib_method, scope=config.calib_scope)
    job.run.metric("calib_images_requested", report.requested)
    job.run.metric("calib_images_used", report.used)
    job.run.metric("calib_images_corrupt", report.corrupt)
    return job.output


def _engine(job: BuildJob, calibration_images: list[Path] | None) -> Path:
    from core.optimize.tensorrt_build import build_engine  # only where tensorrt and pycuda import

    return build_engine(job.source, job.config.output, precision=job.target.precision,
                        batch_sizes=job.config.speed.batch_sizes, calibration_images=calibration_images,
                        progress=job.config.progress)


@builder()
def build_tensorrt_engine(job: BuildJob) -> Path:
    """A TensorRT engine of the FP32 graph at the row's precision (fp32 or fp16), cached under its key."""
    return _engine(job, None)


@builder(*CALIBRATION_OPTIONS)
def build_tensorrt_int8_engine(job: BuildJob) -> Path:
    """A TensorRT INT8 engine calibrated on real images, cached under its key (calibration set included)."""
    from core.optimize.quantize import pick_calibration_images

    chosen, _ = pick_calibration_images(job.calibration_paths, job.config.calib_images)
    return _engine(job, chosen)
