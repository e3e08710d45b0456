"""TensorRT backend: runs a serialized engine (`input_0` -> `scores`, `boxes`) on the GPU with pycuda.

Speaks both TensorRT APIs, 7.1-8.4 (binding indices, `execute_async_v2`) and 8.5-10.x (named tensors,
`execute_async_v3`), through the engine runner the Jetson program uses (`jetson.tensorrt_api.EngineRunner`: its own
dtype mapping, not `trt.nptype`, which fails on TensorRT 8.5 with numpy >= 1.24). An engine is run only with the
build record `core optimize` writes beside it (`<engine>.json`, an `EngineKey`), and only on the TensorRT version
and GPU it was built for, so a stale engine is refused with a one-line error instead of being reused silently.
`close()` releases everything: device buffers, page-locked host arrays, the stream, the engine and the context.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.detect.base import Detections, DetectorSpec
from core.detect.preprocess import normalize_numpy
from core.detect.staged import detect_in_stages
from core.errors import BackendUnavailable, UserError
from core.model import read_labels
from jetson_kit.cuda import PycudaGpu
from jetson_kit.errors import KitError
from jetson_kit.tensorrt_api import ENGINE_SUFFIXES, EngineKey, EngineRunner, key_file, stale_reason

INPUT_NAME = "input_0"
OUTPUT_NAMES = ("scores", "boxes")
__all__ = ["ENGINE_SUFFIXES", "EngineKey", "TensorRtDetector", "key_path", "read_engine_key", "stale_reason"]


def key_path(engine: Path) -> Path:
    """Where the build record of `engine` lives: `<engine>.json` beside it."""
    return Path(key_file(engine))


def read_engine_key(engine: Path) -> EngineKey:
    """The build record of `engine`; an engine without a readable one is refused (its precision is unknown)."""
    try:
        return EngineKey.from_json(key_path(engine).read_text(encoding="utf-8"))
    except OSError:
        raise UserError(f"{engine.name} has no build record {key_path(engine).name}; build it with "
                        f"`python -m core optimize --targets trt-fp16` so its precision, TensorRT and GPU are known")
    except (ValueError, TypeError, KeyError) as error:
        raise UserError(f"{key_path(engine).name} is not an engine build record ({error})") from None


def tensorrt_runtime() -> tuple[Any, Any]:
    """(tensorrt, pycuda.driver), imported only when a TensorRT engine is built or run."""
    try:
        import pycuda.driver as cuda
        import tensorrt as trt
    except ImportError as error:
        raise BackendUnavailable(f"the tensorrt backend needs TensorRT and pycuda ({error})") from None
    cuda.init()
    if cuda.Device.count() == 0:
        raise BackendUnavailable("the tensorrt backend needs a CUDA GPU; none is visible")
    return trt, cuda


def gpu_name(cuda: Any) -> str:
    return str(cuda.Device(0).name())


_LOGGERS: dict[int, Any] = {}


def trt_logger(trt: Any) -> Any:
    """One TensorRT logger per process (TensorRT wants a single logger instance)."""
    return _LOGGERS.setdefault(id(trt), trt.Logger(trt.Logger.WARNING))


class TensorRtDetector:
    backend = "tensorrt"

    def __init__(self, spec: DetectorSpec, *, runtime: tuple[Any, Any] | None = None) -> None:
        if spec.weights.suffix.lower() not in ENGINE_SUFFIXES:
            raise UserError(f"the tensorrt backend runs engines ({', '.join(ENGINE_SUFFIXES)}), not "
                            f"{spec.weights.name}; build one with `python -m core optimize --targets trt-fp16`")
        if spec.device == "cpu":
            raise UserError("the tensorrt backend runs on a CUDA GPU, not on the CPU")
        if not spec.weights.is_file():
            raise UserError(f"engine file not found: {spec.weights}")
        trt, cuda = runtime or tensorrt_runtime()
        key = read_engine_key(spec.weights)
        reason = stale_reason(key, tensorrt_version=trt.__version__, gpu_name=gpu_name(cuda))
        if reason:
            raise UserError(f"{spec.weights.name} is stale: {reason}; rebuild it with `python -m core optimize`")
        if spec.precision not in ("auto", key.precision):
            raise UserError(f"{spec.weights.name} was built as {key.precision}, not {spec.precision}")
        self.class_names = read_labels(spec.labels)
        self.precision, self.device, self.name = key.precision, "cuda", spec.weights.stem
        self.score_threshold = spec.score_threshold
        self._context = cuda.Device(0).make_context()
        try:
            self._runner = self._load(trt, cuda, spec.weights)
        except BaseException:
            self._context.pop()
            self._context.detach()
            raise
        self._context.pop()

    def _load(self, trt: Any, cuda: Any, path: Path) -> EngineRunner:
        try:
            runner = EngineRunner(trt, trt_logger(trt), path.read_bytes(), PycudaGpu(cuda, own_context=False),
                                  INPUT_NAME, OUTPUT_NAMES, path.name)
        except KitError as error:
            raise UserError(str(error)) from None
        classes = runner.output_shape("scores")[-1]
        if classes != len(self.class_names):
            runner.close()
            raise UserError(f"{path.name} outputs {classes} classes but labels.txt lists {len(self.class_names)}")
        return runner

    @contextmanager
    def _current(self) -> Iterator[None]:
        """Make this detector's CUDA context current on the calling thread (live pipelines infer off-thread)."""
        self._context.push()
        try:
            yield
        finally:
            self._context.pop()

    def infer(self, resized: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (scores, boxes) for a resized (N,300,300,3) uint8 BGR batch, split to fit the engine's batch profile."""
        batch = normalize_numpy(resized)
        with self._current():
            scores, boxes = self._runner.infer(batch)
        return torch.from_numpy(scores), torch.from_numpy(boxes)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return detect_in_stages(self.infer, frames, self.score_threshold)

    def close(self) -> None:
        if self._context is None:
            return
        with self._current():
            self._runner.close()
        self._context.detach()
        self._context = None
