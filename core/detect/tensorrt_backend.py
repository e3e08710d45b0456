"""TensorRT backend: runs a serialized engine (`input_0` -> `scores`, `boxes`) on the GPU with pycuda.

Speaks both TensorRT APIs: 7.1-8.4 (binding indices, `execute_async_v2`) and 8.5-10.x (named tensors,
`execute_async_v3`). An engine is run only with the build record `core optimize` writes beside it
(`<engine>.json`, an `EngineKey`), and only on the TensorRT version and GPU it was built for, so a stale engine is
refused with a one-line error instead of being reused silently.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.detect.base import Detections, DetectorSpec
from core.detect.preprocess import normalize_numpy
from core.detect.staged import detect_in_stages
from core.errors import BackendUnavailable, UserError
from core.model import read_labels
from core.model.config import IMAGE_SIZE
from core.model.onnx_names import INPUT_NAME, OUTPUT_NAMES

log = logging.getLogger(__name__)
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


@dataclass(frozen=True)
class EngineKey:
    """Everything a built engine depends on: any change in any field gives another digest, hence another file."""

    onnx_sha256: str
    precision: str
    batch_profile: tuple[int, int, int]  # min, opt, max of input_0's dimension 0
    tensorrt_version: str
    gpu_name: str
    calibration: str = ""  # digest of the INT8 calibration set; "" for fp32/fp16

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EngineKey:
        fields = json.loads(text)
        return cls(**{**fields, "batch_profile": tuple(fields["batch_profile"])})


def key_path(engine: Path) -> Path:
    """Where the build record of `engine` lives: `<engine>.json` beside it."""
    return engine.with_name(engine.name + ".json")


def read_engine_key(engine: Path) -> EngineKey:
    """The build record of `engine`; an engine without a readable one is refused (its precision is unknown)."""
    try:
        return EngineKey.from_json(key_path(engine).read_text(encoding="utf-8"))
    except OSError:
        raise UserError(f"{engine.name} has no build record {key_path(engine).name}; build it with "
                        f"`python -m core optimize --targets trt-fp16` so its precision, TensorRT and GPU are known")
    except (ValueError, TypeError, KeyError) as error:
        raise UserError(f"{key_path(engine).name} is not an engine build record ({error})") from None


def stale_reason(key: EngineKey, *, tensorrt_version: str, gpu_name: str) -> str | None:
    """Why an engine built under `key` must not run here, or None when it may."""
    if key.tensorrt_version != tensorrt_version:
        return f"it was built with TensorRT {key.tensorrt_version}, this is TensorRT {tensorrt_version}"
    if key.gpu_name != gpu_name:
        return f"it was built for {key.gpu_name}, this GPU is {gpu_name}"
    return None


def batch_chunks(count: int, min_batch: int, max_batch: int) -> list[tuple[int, int, int]]:
    """(start, frames, run size) pieces covering `count` frames within the engine's batch profile.

    Pieces hold at most `max_batch` frames; one smaller than `min_batch` runs padded to `min_batch`.
    """
    return [(start, min(max_batch, count - start), max(min_batch, min(max_batch, count - start)))
            for start in range(0, count, max_batch)]


class NamedTensorIO:
    """TensorRT 8.5+ (and 10.x, where it is the only API): tensors addressed by name."""

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self._trt, self._engine, self._context = trt, engine, context
        names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
        self.inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]

    def dtype(self, name: str) -> np.dtype:
        return np.dtype(self._trt.nptype(self._engine.get_tensor_dtype(name)))

    def batch_range(self, name: str) -> tuple[int, int]:
        low, _, high = self._engine.get_tensor_profile_shape(name, 0)
        return int(low[0]), int(high[0])

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> None:
        if not self._context.set_input_shape(name, shape):
            raise UserError(f"the engine refuses input shape {shape} for {name}")

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self._context.get_tensor_shape(name))

    def bind(self, name: str, address: int) -> None:
        self._context.set_tensor_address(name, int(address))

    def execute(self, stream_handle: int) -> None:
        if not self._context.execute_async_v3(stream_handle):
            raise RuntimeError("TensorRT execute_async_v3 failed")


class BindingIO:
    """TensorRT 7.1-8.4: tensors addressed by binding index, run with one list of device pointers."""

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self._trt, self._engine, self._context = trt, engine, context
        self._index = {engine.get_binding_name(i): i for i in range(engine.num_bindings)}
        self.inputs = [n for n, i in self._index.items() if engine.binding_is_input(i)]
        self.outputs = [n for n in self._index if n not in self.inputs]
        self._addresses = [0] * engine.num_bindings

    def dtype(self, name: str) -> np.dtype:
        return np.dtype(self._trt.nptype(self._engine.get_binding_dtype(self._index[name])))

    def batch_range(self, name: str) -> tuple[int, int]:
        low, _, high = self._engine.get_profile_shape(0, self._index[name])
        return int(low[0]), int(high[0])

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> None:
        if not self._context.set_binding_shape(self._index[name], shape):
            raise UserError(f"the engine refuses input shape {shape} for {name}")

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self._context.get_binding_shape(self._index[name]))

    def bind(self, name: str, address: int) -> None:
        self._addresses[self._index[name]] = int(address)

    def execute(self, stream_handle: int) -> None:
        if not self._context.execute_async_v2(bindings=self._addresses, stream_handle=stream_handle):
            raise RuntimeError("TensorRT execute_async_v2 failed")


def engine_io(trt: Any, engine: Any, context: Any) -> NamedTensorIO | BindingIO:
    """The IO adapter for this TensorRT: named tensors where the engine has them, bindings otherwise."""
    io_class = NamedTensorIO if hasattr(engine, "num_io_tensors") else BindingIO
    io = io_class(trt, engine, context)
    if io.inputs != [INPUT_NAME] or sorted(io.outputs) != sorted(OUTPUT_NAMES):
        raise UserError(f"the engine is not a pytorch-ssd detectNet graph: inputs {io.inputs}, outputs {io.outputs} "
                        f"(expected [{INPUT_NAME}] -> {list(OUTPUT_NAMES)})")
    return io


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
        self._cuda = cuda
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
            self._load(trt, spec.weights)
        except BaseException:
            self._context.pop()
            self._context.detach()
            raise
        self._context.pop()

    def _load(self, trt: Any, path: Path) -> None:
        runtime = trt.Runtime(trt_logger(trt))
        self._engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise UserError(f"TensorRT cannot deserialize {path.name} (corrupt, or built by another TensorRT)")
        self._execution = self._engine.create_execution_context()
        self._io = engine_io(trt, self._engine, self._execution)
        self._min_batch, self._max_batch = self._io.batch_range(INPUT_NAME)
        self._io.set_input_shape(INPUT_NAME, (self._max_batch, 3, IMAGE_SIZE, IMAGE_SIZE))
        classes = self._io.shape("scores")[-1]
        if classes != len(self.class_names):
            raise UserError(f"{path.name} outputs {classes} classes but labels.txt lists {len(self.class_names)}")
        self._host = {name: self._cuda.pagelocked_empty(self._io.shape(name), self._io.dtype(name))
                      for name in (INPUT_NAME, *OUTPUT_NAMES)}
        self._device = {name: self._cuda.mem_alloc(array.nbytes) for name, array in self._host.items()}
        for name, allocation in self._device.items():
            self._io.bind(name, int(allocation))
        self._stream = self._cuda.Stream()

    @contextmanager
    def _current(self) -> Iterator[None]:
        """Make this detector's CUDA context current on the calling thread (live pipelines infer off-thread)."""
        self._context.push()
        try:
            yield
        finally:
            self._context.pop()

    def _run(self, chunk: np.ndarray, size: int) -> list[np.ndarray]:
        host_input = self._host[INPUT_NAME][:size]
        host_input[: len(chunk)] = chunk
        host_input[len(chunk):] = 0.0
        self._io.set_input_shape(INPUT_NAME, host_input.shape)
        self._cuda.memcpy_htod_async(self._device[INPUT_NAME], host_input, self._stream)
        self._io.execute(self._stream.handle)
        for name in OUTPUT_NAMES:
            self._cuda.memcpy_dtoh_async(self._host[name][:size], self._device[name], self._stream)
        self._stream.synchronize()
        return [self._host[name][: len(chunk)].astype(np.float32) for name in OUTPUT_NAMES]

    def infer(self, resized: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (scores, boxes) for a resized (N,300,300,3) uint8 BGR batch, split to fit the engine's batch profile."""
        batch = normalize_numpy(resized)
        with self._current():
            pieces = [self._run(batch[start: start + count], size)
                      for start, count, size in batch_chunks(len(batch), self._min_batch, self._max_batch)]
        scores = np.concatenate([piece[0] for piece in pieces])
        boxes = np.concatenate([piece[1] for piece in pieces])
        return torch.from_numpy(scores), torch.from_numpy(boxes)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return detect_in_stages(self.infer, frames, self.score_threshold)

    def close(self) -> None:
        if self._context is None:
            return
        with self._current():
            for allocation in self._device.values():
                allocation.free()
            self._execution = self._engine = None
        self._context.detach()
        self._context = None
