"""ONNX Runtime static INT8 quantization (QDQ, per-channel weights) calibrated on real dataset images.

The calibration reader decodes each image and runs it through the detector's own preprocessing
(`preprocess_batch` + `normalize_numpy`), so the activation ranges are those inference sees (a calibrator that
normalizes differently from inference quantizes for the wrong inputs). Corrupt images are skipped and counted; a
set smaller than requested is logged and reported in `CalibrationReport`.

`scope` decides what is quantized: "all" (the whole graph), or "trunk" (the convolutions and everything that feeds
one; the reshape, softmax and box-decode tail after the last convolutions stays in float). The defaults, and the
measurements behind them, are in core.optimize.formats.
"""
from __future__ import annotations

import logging
import random
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from tqdm import tqdm

from core.detect.preprocess import normalize_numpy, preprocess_batch
from core.errors import UserError
from core.files.atomic import atomic_path
from core.model.onnx_names import INPUT_NAME
from core.optimize.formats import CALIBRATION_METHODS, DEFAULT_METHOD, DEFAULT_SCOPE, QUANT_SCOPES
from core.pictures.imageio import decode_image

log = logging.getLogger(__name__)

# per-channel DequantizeLinear (its `axis`) needs opset 13; the INT8 model runs on onnxruntime, never on an old TensorRT
QDQ_MIN_OPSET = 13


@dataclass
class CalibrationReport:
    """How many images calibration asked for, found, fed and skipped as corrupt."""

    requested: int
    available: int
    used: int = 0
    corrupt: int = 0

    @property
    def short(self) -> bool:
        return self.used < self.requested


class ImageCalibrationReader:
    """An onnxruntime `CalibrationDataReader`: one preprocessed image per `get_next()` call, None at the end."""

    def __init__(self, paths: Sequence[Path], report: CalibrationReport, *, progress: bool = False) -> None:
        self.report = report
        self._paths = list(paths)
        self._batches = self._read()
        self._bar = tqdm(total=len(self._paths), desc="calibrate", unit="img", disable=not progress, leave=False)

    def _read(self) -> Iterator[dict[str, np.ndarray]]:
        for path in self._paths:
            self._bar.update(1)
            try:
                image = decode_image(path.read_bytes(), str(path))
            except (UserError, OSError) as error:
                self.report.corrupt += 1
                log.warning("calibration: corrupt image skipped: %s", error)
                continue
            self.report.used += 1
            yield {INPUT_NAME: calibration_tensor(image)}
        self._bar.close()

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def calibration_tensor(image: np.ndarray) -> np.ndarray:
    """The (1,3,300,300) float32 network input of one BGR image, exactly as the detectors compute it."""
    resized, _ = preprocess_batch([image])
    return normalize_numpy(resized)


def pick_calibration_images(paths: Sequence[Path], count: int, *,
                            seed: int = 0) -> tuple[list[Path], CalibrationReport]:
    """A seeded random `count` of `paths` (all of them when fewer), and the report that says so."""
    if count < 1:
        raise UserError(f"the calibration set needs at least 1 image, got {count}")
    unique = sorted(set(paths))
    chosen = random.Random(seed).sample(unique, count) if len(unique) > count else unique
    report = CalibrationReport(requested=count, available=len(unique))
    if len(unique) < count:
        log.warning("calibration: %d images requested but only %d available", count, len(unique))
    return chosen, report


def _calibration_method(name: str):
    from onnxruntime.quantization import CalibrationMethod

    if name not in CALIBRATION_METHODS:
        raise UserError(f"unknown calibration method {name!r} (use {', '.join(CALIBRATION_METHODS)})")
    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[name]


def tail_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that are neither a Conv nor feed one: the reshape/softmax/decode tail of the graph."""
    producer = {output: node for node in model.graph.node for output in node.output}
    trunk: set[str] = set()
    pending = [node for node in model.graph.node if node.op_type == "Conv"]
    while pending:
        node = pending.pop()
        if node.name in trunk:
            continue
        trunk.add(node.name)
        pending += [producer[name] for name in node.input if name in producer]
    return [node.name for node in model.graph.node if node.name not in trunk]


def _upgraded(model_path: Path, output: Path) -> Path:
    """`model_path` converted to at least `QDQ_MIN_OPSET`, written to `output`."""
    model = onnx.load(str(model_path))
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < QDQ_MIN_OPSET:
        model = onnx.version_converter.convert_version(model, QDQ_MIN_OPSET)
    onnx.save(model, str(output))
    return output


def quantize_onnx(fp32_model: Path, output: Path, reader: ImageCalibrationReader, *,
                  method: str = DEFAULT_METHOD, scope: str = DEFAULT_SCOPE) -> Path:
    """Write the static QDQ INT8 model of `fp32_model` (per-channel weights) to `output` atomically."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if scope not in QUANT_SCOPES:
        raise UserError(f"unknown quantization scope {scope!r} (use {', '.join(QUANT_SCOPES)})")
    calibrate_method = _calibration_method(method)
    with tempfile.TemporaryDirectory(prefix="quantize-") as workdir, atomic_path(output) as temporary:
        prepared = _upgraded(fp32_model, Path(workdir) / "upgraded.onnx")
        quant_pre_process(str(prepared), str(prepared), skip_symbolic_shape=True)
        excluded = tail_nodes(onnx.load(str(prepared))) if scope == "trunk" else []
        try:
            quantize_static(str(prepared), str(temporary), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=calibrate_method, nodes_to_exclude=excluded)
        except Exception:
            if reader.report.used == 0:
                raise UserError(f"no readable calibration image among the {reader.report.available} chosen") from None
            raise
    if reader.report.short:
        log.warning("calibration used %d of %d requested images (%d available, %d corrupt)", reader.report.used,
                    reader.report.requested, reader.report.available, reader.report.corrupt)
    return output
