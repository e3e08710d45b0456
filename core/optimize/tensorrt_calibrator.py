"""INT8 calibration for TensorRT: real dataset images, preprocessed exactly as at inference, fed through pycuda.

`CalibrationBatches` groups the images of the INT8 calibration reader (shared with ONNX Runtime quantization; it
preprocesses with the detectors' own code) into TensorRT's fixed-size batches, so calibration sees what the engine
will see (jetson-inference issue #541 was a calibrator with its own, different preprocessing). `CalibrationFeed`
holds the calibrator's logic (batch size, device upload, cache file) with the device calls injected, and
`entropy_calibrator` wraps it in a real `trt.IInt8EntropyCalibrator2`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import write_bytes_atomic
from core.errors import UserError
from core.model.config import IMAGE_SIZE
from core.model.onnx_export import INPUT_NAME
from core.optimize.quantize import CalibrationReport, ImageCalibrationReader

log = logging.getLogger(__name__)


class CalibrationBatches:
    """Network-input batches (B,3,300,300) float32 from the images of an `ImageCalibrationReader`.

    The reader preprocesses each image exactly as inference does and skips (and counts) unreadable ones. The last
    batch, when short, is completed by repeating its own images: TensorRT calibrates at one fixed batch size, and
    repeating real images keeps the statistics real (zeros would not).
    """

    def __init__(self, reader: ImageCalibrationReader, batch_size: int) -> None:
        if batch_size < 1:
            raise UserError(f"calibration batch size must be at least 1, got {batch_size}")
        self.reader, self.batch_size = reader, batch_size

    def _complete(self, pending: list[np.ndarray]) -> np.ndarray:
        batch = np.concatenate(pending)
        return batch if len(batch) == self.batch_size else batch[np.arange(self.batch_size) % len(batch)]

    def __iter__(self) -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        while (item := self.reader.get_next()) is not None:
            pending.append(item[INPUT_NAME])
            if len(pending) == self.batch_size:
                yield self._complete(pending)
                pending = []
        if pending:
            yield self._complete(pending)


class CalibrationFeed:
    """What a TensorRT INT8 calibrator does, with the device calls (`allocate`, `upload`) injected.

    `get_batch` uploads the next batch into one device buffer and returns its address, or None when the images are
    exhausted. The calibration cache is read before calibrating (TensorRT then skips the images) and written
    atomically after.
    """

    def __init__(self, batches: CalibrationBatches, cache_path: Path, *, allocate: Callable[[int], Any],
                 upload: Callable[[Any, np.ndarray], None]) -> None:
        self._batches, self._iterator = batches, iter(batches)
        self.cache_path = cache_path
        self._upload = upload
        self._device = allocate(batches.batch_size * 3 * IMAGE_SIZE * IMAGE_SIZE * np.dtype(np.float32).itemsize)
        self.batches_fed = 0
        self.cache_hit = False

    @property
    def report(self) -> CalibrationReport:
        return self._batches.reader.report

    def get_batch_size(self) -> int:
        return self._batches.batch_size

    def get_batch(self, names: Sequence[str]) -> list[int] | None:
        batch = next(self._iterator, None)
        if batch is None:
            log.info("calibration: %d batches from %d images (%d unreadable skipped)", self.batches_fed,
                     self.report.used, self.report.corrupt)
            return None
        self._upload(self._device, batch)
        self.batches_fed += 1
        return [int(self._device)] * len(names)

    def read_calibration_cache(self) -> bytes | None:
        if not self.cache_path.is_file():
            return None
        log.info("calibration: reusing %s", self.cache_path.name)
        self.cache_hit = True
        return self.cache_path.read_bytes()

    def write_calibration_cache(self, cache: Any) -> None:
        if self.batches_fed:  # a table computed from no image must never be reused
            write_bytes_atomic(self.cache_path, bytes(cache))

    def close(self) -> None:
        """Free the device buffer now, while the CUDA context that owns it is still current."""
        self._device.free()


def entropy_calibrator(trt: Any, cuda: Any, feed_args: dict[str, Any]) -> Any:
    """A `trt.IInt8EntropyCalibrator2` over a `CalibrationFeed(**feed_args)` uploading with pycuda."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.feed = CalibrationFeed(**feed_args, allocate=cuda.mem_alloc, upload=cuda.memcpy_htod)

        def get_batch_size(self) -> int:
            return self.feed.get_batch_size()

        def get_batch(self, names: Sequence[str], *_: Any) -> list[int] | None:
            return self.feed.get_batch(names)

        def read_calibration_cache(self) -> bytes | None:
            return self.feed.read_calibration_cache()

        def write_calibration_cache(self, cache: Any) -> None:
            self.feed.write_calibration_cache(cache)

    return EntropyCalibrator()
