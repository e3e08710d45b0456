"""Speed, memory and fidelity of one loaded detector, measured the same way for every optimization target.

- latency p50/p95/p99 of `detect()` on one 300x300 frame (batch 1, warm-up calls excluded);
- throughput (img/s) of `detect()` at each batch size;
- end-to-end milliseconds of `detect()` on one 640x480 frame (resize + inference + decode + NMS);
- peak memory: growth of the process's resident-set high-water mark (Linux VmHWM, reset before loading);
- fidelity: the largest absolute difference of the raw network outputs (class scores, box corners) from a
  reference detector's outputs on the same images;
- the benchmark's view (`measure_detect_call`): the whole `detect()` call on real-size frames, warmed up, repeated
  for a minimum time, median and p95 per image, and the same frames split into stages (resize, network with
  normalization, decode + NMS).
Call counts are parameters and are returned, so tests check what ran and never how fast this machine is.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.detect.base import Detector
from core.detect.postprocess import postprocess
from core.detect.preprocess import preprocess_batch
from core.detect.staged import network_stage
from core.model.config import IMAGE_SIZE
from core.pictures.imageio import read_image
from core.timing.percentiles import percentiles

log = logging.getLogger(__name__)

END_TO_END_SIZE = (640, 480)  # width, height: the VGA frames cameras and the demo send
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class SpeedConfig:
    warmup: int = 3
    repeats: int = 50
    batch_sizes: tuple[int, ...] = (1, 8, 32)


@dataclass
class SpeedResult:
    latency_ms: dict[str, float]  # p50, p95, p99
    latency_samples: int
    throughput: dict[int, float] = field(default_factory=dict)  # batch size -> img/s
    end_to_end_ms: float = 0.0
    end_to_end_samples: int = 0


def _timed(call: Callable[[], object], count: int, clock: Callable[[], float]) -> list[float]:
    samples = []
    for _ in range(count):
        started = clock()
        call()
        samples.append((clock() - started) * 1000.0)
    return samples


def measure_speed(detector: Detector, image: np.ndarray, config: SpeedConfig, *,
                  clock: Callable[[], float] = time.perf_counter) -> SpeedResult:
    """Latency, throughput per batch size and end-to-end time of `detector` on a real `image` (BGR)."""
    square = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)
    frame = cv2.resize(image, END_TO_END_SIZE, interpolation=cv2.INTER_LINEAR)
    _timed(lambda: detector.detect([square]), config.warmup, clock)
    latencies = np.asarray(_timed(lambda: detector.detect([square]), config.repeats, clock))
    p50, p95, p99 = percentiles(latencies, [50, 95, 99])
    result = SpeedResult({"p50": p50, "p95": p95, "p99": p99}, len(latencies))
    for batch_size in config.batch_sizes:
        batch = [square] * batch_size
        detector.detect(batch)  # warm-up: a new batch shape may allocate or re-plan
        calls = max(2, config.repeats // batch_size)
        total_ms = sum(_timed(lambda: detector.detect(batch), calls, clock))
        result.throughput[batch_size] = batch_size * calls / (total_ms / 1000.0) if total_ms > 0 else 0.0
    _timed(lambda: detector.detect([frame]), config.warmup, clock)
    end_to_end = _timed(lambda: detector.detect([frame]), config.repeats, clock)
    result.end_to_end_ms, result.end_to_end_samples = float(np.median(end_to_end)), len(end_to_end)
    return result


def benchmark_frame(image: Path | None) -> np.ndarray:
    """The frame a detect benchmark times: the image given, or seeded noise of the usual 640x480 size."""
    if image is not None:
        return read_image(image)
    width, height = END_TO_END_SIZE
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


@dataclass(frozen=True)
class RepeatConfig:
    """Warm-up calls, then calls until both the minimum time and the minimum count are reached."""

    warmup: int = 5
    min_seconds: float = 2.0
    min_repeats: int = 20


def repeat_timed(call: Callable[[], object], config: RepeatConfig, *,
                 clock: Callable[[], float] = time.perf_counter) -> np.ndarray:
    """Milliseconds of each call of `call` after `config.warmup` untimed ones, until both minimums are met."""
    _timed(call, config.warmup, clock)
    samples: list[float] = []
    started = clock()
    while len(samples) < config.min_repeats or (clock() - started) < config.min_seconds:
        samples += _timed(call, 1, clock)
    return np.asarray(samples)


def _robust(samples_ms: np.ndarray, per: int = 1) -> dict[str, float]:
    median, p95 = percentiles(samples_ms / per, [50, 95])
    return {"median_ms": median, "p95_ms": p95}


# Where each backend turns uint8 pixels into the network's float input: inside its network call, every one of them
# (onnxruntime: ONNX ops prepended to the graph; torch: tensor ops on the device; tensorrt: numpy before the copy).
NORMALIZED_IN = {"onnxruntime": "graph", "torch": "torch ops before the network", "tensorrt": "numpy in infer"}


def measure_detect_call(detector: Detector, frames: Sequence[np.ndarray], config: RepeatConfig, *,
                        clock: Callable[[], float] = time.perf_counter) -> dict:
    """`detect(frames)` as a user calls it (BGR frames in, final boxes out), per image, and its stages.

    Returns median_ms, p95_ms (per image), images_per_sec, batch_size, repeats and `stages_ms` (median per image of
    resize, network and decode + NMS, each timed on its own; the network stage includes normalization, and
    `normalized_in` says how the backend does it). A detector that is not a `StagedDetector` gets no stage split."""
    frames = list(frames)
    calls = repeat_timed(lambda: detector.detect(frames), config, clock=clock)
    whole = _robust(calls, len(frames))
    result = {**whole, "images_per_sec": 1000.0 / whole["median_ms"] if whole["median_ms"] > 0 else 0.0,
              "batch_size": len(frames), "repeats": len(calls), "stages_ms": None,
              "normalized_in": NORMALIZED_IN.get(detector.backend)}
    infer = network_stage(detector)
    if infer is None:
        return result
    part = RepeatConfig(warmup=2, min_seconds=config.min_seconds / 4, min_repeats=max(3, config.min_repeats // 4))
    resized, sizes = preprocess_batch(frames)
    scores, boxes = infer(resized)
    stage = {
        "resize": lambda: preprocess_batch(frames),
        "network": lambda: infer(resized),
        "decode_nms": lambda: postprocess(scores, boxes, sizes, detector.score_threshold),
    }
    result["stages_ms"] = {name: _robust(repeat_timed(call, part, clock=clock), len(frames))["median_ms"]
                           for name, call in stage.items()}
    return result


def raw_outputs(detector: Detector, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """The network's (scores, boxes) for `images` as float32 arrays, or None for a detector that is not a
    `StagedDetector` (its network does not run apart)."""
    infer = network_stage(detector)
    if infer is None:
        return None
    resized, _ = preprocess_batch(images)
    scores, boxes = zip(*(infer(resized[index : index + 1]) for index in range(len(resized))))
    return np.concatenate([_float32(s) for s in scores]), np.concatenate([_float32(b) for b in boxes])


def _float32(values: object) -> np.ndarray:
    """A torch tensor (any device or dtype) or an array as a float32 numpy array."""
    if hasattr(values, "detach"):
        return values.detach().float().cpu().numpy()
    return np.asarray(values, np.float32)


def max_deviation(outputs: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Largest absolute difference of scores and of (normalized) box corners from the reference outputs."""
    return {"max_score_deviation": float(np.abs(outputs[0] - reference[0]).max()),
            "max_box_deviation": float(np.abs(outputs[1] - reference[1]).max())}


def _status_kib(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Growth of the resident-set high-water mark (MB) over a block; None where /proc cannot reset it."""

    def __init__(self) -> None:
        self.megabytes: float | None = None
        self._start: int | None = None

    def __enter__(self) -> PeakMemory:
        try:
            _CLEAR_REFS.write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            log.debug("cannot reset the RSS high-water mark here; peak memory not measured")
            return self
        self._start = _status_kib("VmRSS")
        return self

    def __exit__(self, *exc_info: object) -> None:
        peak = _status_kib("VmHWM")
        if self._start is not None and peak is not None:
            self.megabytes = max(0, peak - self._start) / 1024.0
