"""Build TensorRT engines (FP32, FP16, INT8) from our ONNX graph on the server, cached under a key of all they depend on.

TensorRT's version differences (7.1-8.x: explicit-batch flag, workspace size, `build_engine` on 7.x; 10.x:
explicit batch only, memory pools), the engine key and cache, and the INT8 calibrator are those of the Jetson
program (`jetson.tensorrt_api`), so the server and the Jetson build the same way. INT8 is calibrated on real
dataset images in batches of the calibration profile's opt batch, which TensorRT calibrates at. `tensorrt` and
`pycuda` are imported only when an engine is built.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.detect.tensorrt_backend import EngineKey, gpu_name, tensorrt_runtime, trt_logger
from core.errors import UserError
from core.files.digest import file_sha256
from core.model.config import IMAGE_SIZE
from core.model.onnx_names import INPUT_NAME
from core.optimize.quantize import CalibrationReport, ImageCalibrationReader
from core.optimize.tensorrt_calibrator import CalibrationBatches
from jetson_kit import tensorrt_api
from jetson_kit.errors import KitError

log = logging.getLogger(__name__)
PRECISIONS = tensorrt_api.PRECISIONS
SAMPLE_SHAPE = (3, IMAGE_SIZE, IMAGE_SIZE)

Shape = tuple[int, int, int, int]


@contextmanager
def user_errors() -> Iterator[None]:
    """The shared TensorRT code's one-line errors as this program's UserError."""
    try:
        yield
    except KitError as error:
        raise UserError(str(error)) from None


def batch_profile(batch_sizes: Sequence[int]) -> tuple[int, int, int]:
    """(min, opt, max) batch of the optimization profile; TensorRT tunes its kernels for opt, the largest size."""
    with user_errors():
        return tensorrt_api.batch_profile(batch_sizes)


def profile_shapes(batch_sizes: Sequence[int]) -> tuple[Shape, Shape, Shape]:
    """The min/opt/max shapes of `input_0` (N,3,300,300) for the requested batch sizes."""
    with user_errors():
        return tensorrt_api.profile_shapes(batch_sizes, SAMPLE_SHAPE)  # type: ignore[return-value]


def calibration_digest(images: Sequence[Path]) -> str:
    """Identifies a calibration set by its files' names and sizes (cheap, and changes when the set changes)."""
    digest = hashlib.sha256()
    for path in images:
        size = path.stat().st_size if path.is_file() else -1
        digest.update(f"{path.name}\0{size}\n".encode())
    return digest.hexdigest()


def engine_path(output_dir: Path, onnx_path: Path, key: EngineKey) -> Path:
    return output_dir / tensorrt_api.engine_file_name(onnx_path.stem, key)


def calibration_cache_path(output_dir: Path, onnx_path: Path, key: EngineKey) -> Path:
    """The calibration cache serves every INT8 build of the same graph, images and TensorRT, whatever the profile."""
    return output_dir / tensorrt_api.calibration_cache_name(onnx_path.stem, key)


def cached_engine(path: Path, key: EngineKey) -> bool:
    """True when `path` exists and was built under exactly `key`."""
    return tensorrt_api.cached_engine(path, key)


def _calibration_feed(cuda: Any, images: Sequence[Path], cache: Path, batch_sizes: Sequence[int],
                      progress: bool) -> tuple[tensorrt_api.CalibrationFeed, CalibrationReport]:
    """A calibrator feed over the images in batches of the calibration profile's opt batch, and its report."""
    report = CalibrationReport(requested=len(images), available=len(images))
    batch = tensorrt_api.calibration_batch_size(batch_sizes)
    batches = CalibrationBatches(ImageCalibrationReader(images, report, progress=progress), batch)
    return tensorrt_api.CalibrationFeed(batches, batch, SAMPLE_SHAPE, cache, cuda.mem_alloc, cuda.memcpy_htod), report


def check_calibrated(feed: tensorrt_api.CalibrationFeed, report: CalibrationReport) -> None:
    """Fail when calibration saw no image (and had no cache); report skipped unreadable images."""
    if not feed.cache_hit and feed.batches_fed == 0:
        raise UserError(f"none of the {report.requested} calibration images could be read")
    if report.corrupt:
        log.warning("calibration: %d of %d images were unreadable and skipped", report.corrupt, report.requested)


def _serialize(trt: Any, cuda: Any, onnx_path: Path, cache: Path, *, precision: str, batch_sizes: Sequence[int],
               calibration_images: Sequence[Path], progress: bool) -> bytes:
    feed = report = calibrator = None
    if precision == "int8":
        feed, report = _calibration_feed(cuda, calibration_images, cache, batch_sizes, progress)
        calibrator = tensorrt_api.entropy_calibrator(trt, feed)
    try:
        with user_errors():
            serialized = tensorrt_api.build_serialized(trt, trt_logger(trt), onnx_path.read_bytes(), onnx_path.name,
                                                       INPUT_NAME, precision, batch_sizes, SAMPLE_SHAPE, calibrator)
    finally:
        if feed is not None:
            feed.close()
    if feed is not None and report is not None:
        check_calibrated(feed, report)
    return serialized


def build_engine(onnx_path: Path, output_dir: Path, *, precision: str, batch_sizes: Sequence[int],
                 calibration_images: Sequence[Path] | None, progress: bool) -> Path:
    """The engine for `onnx_path` at `precision` and `batch_sizes`: reused when built under the same key, else built.

    INT8 needs `calibration_images` (real dataset images). The engine and its key (`<engine>.json`) are written
    atomically; a build interrupted midway leaves neither.
    """
    if precision not in PRECISIONS:
        raise UserError(f"TensorRT engines are built as {', '.join(PRECISIONS)}, not {precision}")
    if precision == "int8" and not calibration_images:
        raise UserError("an int8 engine needs calibration images from the dataset")
    if not onnx_path.is_file():
        raise UserError(f"ONNX model not found: {onnx_path}")
    trt, cuda = tensorrt_runtime()
    images = list(calibration_images or []) if precision == "int8" else []
    key = EngineKey(onnx_sha256=file_sha256(onnx_path), precision=precision, batch_profile=batch_profile(batch_sizes),
                    tensorrt_version=trt.__version__, gpu_name=gpu_name(cuda),
                    calibration=calibration_digest(images) if images else "")
    path = engine_path(output_dir, onnx_path, key)
    if cached_engine(path, key):
        log.info("reusing %s (same ONNX, precision, batch profile, TensorRT and GPU)", path.name)
        return path
    context = cuda.Device(0).make_context()
    try:
        engine = _serialize(trt, cuda, onnx_path, calibration_cache_path(output_dir, onnx_path, key),
                            precision=precision, batch_sizes=batch_sizes, calibration_images=images, progress=progress)
    finally:
        context.pop()
        context.detach()
    tensorrt_api.write_engine(path, engine, key)
    log.info("wrote %s (%.1f MB)", path, len(engine) / 1e6)
    return path
