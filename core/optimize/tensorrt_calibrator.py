"""INT8 calibration batches for TensorRT on the server: real dataset images, preprocessed exactly as at inference.

`CalibrationBatches` groups the images of the INT8 calibration reader (shared with ONNX Runtime quantization; it
preprocesses with the detectors' own code) into batches of the calibration profile's opt batch, so calibration sees
what the engine will see (jetson-inference issue #541 was a calibrator with its own, different preprocessing). The
calibrator itself (`jetson.tensorrt_api.CalibrationFeed` and `entropy_calibrator`) is shared with the Jetson program.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from core.errors import UserError
from core.model.onnx_export import INPUT_NAME
from core.optimize.quantize import ImageCalibrationReader
from jetson_kit.errors import KitError
from jetson_kit.tensorrt_api import fixed_batches


class CalibrationBatches:
    """Network-input batches (B,3,300,300) float32 from the images of an `ImageCalibrationReader`; the last short
    batch is completed by repeating its own images (`fixed_batches`). Unreadable images are skipped and counted in
    the reader's report."""

    def __init__(self, reader: ImageCalibrationReader, batch_size: int) -> None:
        if batch_size < 1:
            raise UserError(f"calibration batch size must be at least 1, got {batch_size}")
        self.reader, self.batch_size = reader, batch_size

    def _samples(self) -> Iterator[np.ndarray]:
        while (item := self.reader.get_next()) is not None:
            yield item[INPUT_NAME]

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            yield from fixed_batches(self._samples(), self.batch_size)
        except KitError as error:
            raise UserError(str(error)) from None
