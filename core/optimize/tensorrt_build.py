"""Build TensorRT engines (FP32, FP16, INT8) from our ONNX graph, cached under a key of all they depend on.

An engine depends on the ONNX bytes, the precision, the batch profile, the TensorRT version and the GPU (and, for
INT8, the calibration set). They form an `EngineKey`; its digest is part of the file name and the key itself is
written beside the engine, so a changed model, another GPU or another TensorRT never reuses a stale engine
(jetson-inference issues #1314 and #1370). Works with TensorRT 7.1-8.x (explicit-batch flag, workspace size,
`build_engine` on 7.x) and 10.x (explicit batch only, memory pools). `tensorrt` and `pycuda` are imported only when
an engine is built.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.atomic import write_bytes_atomic, write_text_atomic
from core.detect.tensorrt_backend import INPUT_NAME, EngineKey, gpu_name, key_path, tensorrt_runtime, trt_logger
from core.errors import BackendUnavailable, UserError
from core.files import file_sha256
from core.model.config import IMAGE_SIZE
from core.optimize.quantize import CalibrationReport, ImageCalibrationReader
from core.optimize.tensorrt_calibrator import CalibrationBatches, CalibrationFeed, entropy_calibrator

log = logging.getLogger(__name__)
PRECISIONS = ("fp32", "fp16", "int8")
WORKSPACE_BYTES = 1 << 30
CALIBRATION_BATCH = 8

Shape = tuple[int, int, int, int]


def batch_profile(batch_sizes: Sequence[int]) -> tuple[int, int, int]:
    """(min, opt, max) batch of the optimization profile; TensorRT tunes its kernels for opt, the largest size."""
    if not batch_sizes or any(int(size) < 1 for size in batch_sizes):
        raise UserError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    return min(batch_sizes), max(batch_sizes), max(batch_sizes)


def profile_shapes(batch_sizes: Sequence[int]) -> tuple[Shape, Shape, Shape]:
    """The min/opt/max shapes of `input_0` (N,3,300,300) for the requested batch sizes."""
    low, opt, high = batch_profile(batch_sizes)
    return tuple((batch, 3, IMAGE_SIZE, IMAGE_SIZE) for batch in (low, opt, high))  # type: ignore[return-value]


def calibration_digest(images: Sequence[Path]) -> str:
    """Identifies a calibration set by its files' names and sizes (cheap, and changes when the set changes)."""
    digest = hashlib.sha256()
    for path in images:
        size = path.stat().st_size if path.is_file() else -1
        digest.update(f"{path.name}\0{size}\n".encode())
    return digest.hexdigest()


def engine_path(output_dir: Path, onnx_path: Path, key: EngineKey) -> Path:
    low, opt, high = key.batch_profile
    return output_dir / f"{onnx_path.stem}-{key.precision}-b{low}-{opt}-{high}-{key.digest()[:12]}.engine"


def calibration_cache_path(output_dir: Path, onnx_path: Path, key: EngineKey) -> Path:
    """The calibration cache serves every INT8 build of the same graph, images and TensorRT, whatever the profile."""
    text = "\0".join((key.onnx_sha256, key.calibration, key.tensorrt_version))
    return output_dir / f"{onnx_path.stem}-int8-{hashlib.sha256(text.encode()).hexdigest()[:12]}.calib"


def cached_engine(path: Path, key: EngineKey) -> bool:
    """True when `path` exists and was built under exactly `key`."""
    try:
        return path.is_file() and EngineKey.from_json(key_path(path).read_text(encoding="utf-8")) == key
    except (OSError, ValueError, TypeError, KeyError):
        return False


def network_flags(trt: Any) -> int:
    """Explicit batch: a creation flag before TensorRT 10, the only mode (flag deprecated) from 10 on."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    if flag is None or int(trt.__version__.split(".")[0]) >= 10:
        return 0
    return 1 << int(flag)


def set_workspace(trt: Any, config: Any, limit: int = WORKSPACE_BYTES) -> None:
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, limit)
    else:  # TensorRT < 8.4
        config.max_workspace_size = limit


def check_precision(builder: Any, precision: str) -> None:
    """Refuse a precision the GPU has no fast path for: the engine would silently run something else."""
    fast = {"fp16": "platform_has_fast_fp16", "int8": "platform_has_fast_int8"}.get(precision)
    if fast and not getattr(builder, fast, True):
        raise BackendUnavailable(f"this GPU has no fast {precision} path; TensorRT would not run {precision}")


def check_batch_axis(network: Any, batch_sizes: Sequence[int]) -> None:
    """A graph exported with a fixed batch only takes that batch."""
    fixed = int(network.get_input(0).shape[0])
    if fixed != -1 and set(batch_sizes) != {fixed}:
        raise UserError(f"the ONNX graph has a fixed batch of {fixed}; export it with a dynamic batch for batch "
                        f"sizes {sorted(set(batch_sizes))}")


def parse_onnx(trt: Any, network: Any, onnx_path: Path) -> Any:
    parser = trt.OnnxParser(network, trt_logger(trt))
    if not parser.parse(onnx_path.read_bytes()):
        errors = [str(parser.get_error(index)) for index in range(parser.num_errors)]
        raise UserError(f"TensorRT {trt.__version__} cannot parse {onnx_path.name}: "
                        f"{errors[0] if errors else 'unknown error'} (try a lower --opset)")
    return parser


def configure(trt: Any, builder: Any, *, precision: str, batch_sizes: Sequence[int], calibrator: Any) -> Any:
    """A builder config with the workspace limit, the precision flags and one optimization profile."""
    config = builder.create_builder_config()
    set_workspace(trt, config)
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT_NAME, *profile_shapes(batch_sizes))
    config.add_optimization_profile(profile)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
        if hasattr(config, "set_calibration_profile"):
            config.set_calibration_profile(profile)
    return config


def serialize_network(builder: Any, network: Any, config: Any) -> bytes | None:
    """The serialized engine: `build_serialized_network` from TensorRT 8.0, `build_engine` + `serialize` on 7.x."""
    if hasattr(builder, "build_serialized_network"):
        serialized = builder.build_serialized_network(network, config)
    else:
        engine = builder.build_engine(network, config)
        serialized = engine.serialize() if engine is not None else None
    return bytes(serialized) if serialized is not None else None


def _calibrator(trt: Any, cuda: Any, images: Sequence[Path], cache: Path, batch_sizes: Sequence[int],
                progress: bool) -> Any:
    low, _, high = batch_profile(batch_sizes)
    reader = ImageCalibrationReader(images, CalibrationReport(requested=len(images), available=len(images)),
                                    progress=progress)
    batches = CalibrationBatches(reader, min(max(CALIBRATION_BATCH, low), high))
    return entropy_calibrator(trt, cuda, {"batches": batches, "cache_path": cache})


def check_calibrated(feed: CalibrationFeed) -> None:
    """Fail when calibration saw no image (and had no cache); report skipped unreadable images."""
    report = feed.report
    if not feed.cache_hit and feed.batches_fed == 0:
        raise UserError(f"none of the {report.requested} calibration images could be read")
    if report.corrupt:
        log.warning("calibration: %d of %d images were unreadable and skipped", report.corrupt, report.requested)


def _serialize(trt: Any, cuda: Any, onnx_path: Path, cache: Path, *, precision: str, batch_sizes: Sequence[int],
               calibration_images: Sequence[Path] | None, progress: bool) -> bytes:
    builder = trt.Builder(trt_logger(trt))
    check_precision(builder, precision)
    network = builder.create_network(network_flags(trt))
    _parser = parse_onnx(trt, network, onnx_path)  # the parser owns the weights until the engine is built
    check_batch_axis(network, batch_sizes)
    calibrator = (_calibrator(trt, cuda, calibration_images or [], cache, batch_sizes, progress)
                  if precision == "int8" else None)
    config = configure(trt, builder, precision=precision, batch_sizes=batch_sizes, calibrator=calibrator)
    log.info("building a %s TensorRT %s engine from %s (minutes on a Jetson)", precision, trt.__version__,
             onnx_path.name)
    try:
        serialized = serialize_network(builder, network, config)
    finally:
        if calibrator is not None:
            calibrator.feed.close()
    if calibrator is not None:
        check_calibrated(calibrator.feed)
    if serialized is None:
        raise UserError(f"TensorRT {trt.__version__} failed to build a {precision} engine from {onnx_path.name} "
                        f"(see its log above)")
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
    key_path(path).unlink(missing_ok=True)  # an engine without its key is never trusted, so drop the old key first
    write_bytes_atomic(path, engine)
    write_text_atomic(key_path(path), key.to_json())
    log.info("wrote %s (%.1f MB)", path, len(engine) / 1e6)
    return path
