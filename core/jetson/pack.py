"""`jetson pack`: everything the Jetson program needs in one folder, made here, recorded as a `jetson-pack` run.

The bundle (read on the Jetson by jetson.bundle) holds the ONNX graph at opset 11 exactly as `export-onnx` writes it
(dynamic batch, plus one fixed-batch graph per batch size for TensorRT 7), `labels.txt`, calibration and evaluation
images already resized and laid out as the network takes them (uint8 RGB NCHW, so the Jetson needs no OpenCV), the
evaluation images' ids, sizes and ground truth, the server's sender commands for the Jetson's camera, and a manifest
naming every file with its sha256.

The evaluation images are also run here through ONNX Runtime in FP32, the server's reference (`ort-fp32`): that run
and the Jetson's engine runs share one `optimize_id`, so the Compare page and `report optimize` show them side by
side, and `jetson import` computes the Jetson's ΔmAP against it on the very same images.
"""
from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from core.data.dataset import CorruptImageError, DetectionDataset, Sample
from core.data.readers import open_split, read_dataset
from core.detect import load_detector
from core.detect.preprocess import network_layout, preprocess_batch
from core.errors import UserError
from core.files.atomic import atomic_path, write_text_atomic
from core.files.digest import file_sha256
from core.ledger import History, RecordedRun, RunKind
from core.ledger.environment import cpu_model
from core.model import read_labels
from core.model.config import IMAGE_MEAN, IMAGE_SIZE, IMAGE_STD
from core.model.onnx_export import DEFAULT_OPSET, export_onnx
from core.model.onnx_names import INPUT_NAME, OUTPUT_NAMES
from core.optimize.evaluate import evaluate, evaluation_spec, record_metrics
from core.optimize.export_run import recorded_export
from core.optimize.formats import TARGETS_BY_NAME, TENSORRT_TARGETS
from core.optimize.quantize import pick_calibration_images
from core.pictures.imageio import decode_image
from jetson_kit.bundle import FORMAT, GROUND_TRUTH, MANIFEST
from jetson_kit.tensorrt_api import batch_profile

log = logging.getLogger(__name__)
REFERENCE_TARGET = "ort-fp32"
SENDER_PRESETS = {4: "jetpack4-usb-h265", 5: "jetpack5-usb-h265"}  # JetPack 4 (OMX), 5 and later (V4L2)
MAX_IMAGES = 5000
MAX_BATCH = 256
IMAGE_BYTES = 3 * IMAGE_SIZE * IMAGE_SIZE
CALIBRATION_FILE, EVALUATION_FILE, ONNX_FILE, LABELS_FILE = "calibration.npy", "evaluation.npy", "model.onnx", \
    "labels.txt"


@dataclass(frozen=True)
class PackConfig:
    model: Path  # a pytorch-ssd .pth (exported here) or an ONNX graph export-onnx wrote
    labels: Path
    data: Path
    output: Path
    targets: Sequence[str] = TENSORRT_TARGETS
    batch_sizes: Sequence[int] = (1, 8, 32)
    calib_images: int = 100
    eval_images: int = 200
    calib_split: str = "train"
    eval_split: str = "test"
    fixed_batch_graphs: bool = True
    max_bundle_mb: int = 1024
    stream_host: str | None = None
    stream_port: int = 5000
    stream_camera: str = "/dev/video0"
    threads: int | None = None
    progress: bool = True


@dataclass
class PackResult:
    output: Path
    run_id: int
    reference_run_id: int
    manifest: dict[str, Any] = field(default_factory=dict)


class _Subset:
    """Chosen samples of a dataset, read again on every pass (what `evaluate` iterates)."""

    def __init__(self, dataset: DetectionDataset, indices: Sequence[int]) -> None:
        self._dataset, self._indices = dataset, list(indices)
        self.name = f"{dataset.name} ({len(self._indices)} images of the Jetson bundle)"

    def __len__(self) -> int:
        return len(self._indices)

    def __iter__(self) -> Iterator[Sample]:
        for index in self._indices:
            yield self._dataset[index]


def check_config(config: PackConfig) -> None:
    unknown = [name for name in config.targets if name not in TENSORRT_TARGETS]
    if unknown or not config.targets:
        raise UserError(f"the Jetson builds {', '.join(TENSORRT_TARGETS)}; not {', '.join(unknown) or '(none)'}")
    if any(not 1 <= int(size) <= MAX_BATCH for size in config.batch_sizes):
        raise UserError(f"batch sizes must be 1 to {MAX_BATCH}, got {list(config.batch_sizes)}")
    batch_profile(config.batch_sizes)
    for name, count in (("--calib-images", config.calib_images), ("--eval-images", config.eval_images)):
        if not 1 <= count <= MAX_IMAGES:
            raise UserError(f"{name} must be 1 to {MAX_IMAGES}, got {count}")
    if config.model.suffix.lower() not in (".pth", ".pt", ".onnx"):
        raise UserError(f"pack a pytorch-ssd .pth or its .onnx export, not {config.model.name}")
    if not config.model.is_file():
        raise UserError(f"model file not found: {config.model}")
    images_mb = (config.calib_images + config.eval_images) * IMAGE_BYTES / 2**20
    if images_mb > config.max_bundle_mb:
        raise UserError(f"{config.calib_images + config.eval_images} images take {images_mb:.0f} MiB, over "
                        f"--max-bundle-mb {config.max_bundle_mb}; pack fewer images")
    output = config.output
    if output.exists() and (not output.is_dir() or (any(output.iterdir()) and not (output / MANIFEST).is_file())):
        raise UserError(f"{output} exists and is not a bundle; give a new or empty folder")


def _prepare_folder(output: Path) -> None:
    """An empty folder for the bundle; a bundle there before is removed, its manifest first (a folder without a
    manifest is never taken for a bundle)."""
    if output.exists():
        (output / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(output)
    output.mkdir(parents=True)


def _save_array(path: Path, array: np.ndarray) -> Path:
    with atomic_path(path) as temporary, temporary.open("wb") as handle:
        np.save(handle, array, allow_pickle=False)
    return path


def _layout(image: np.ndarray) -> np.ndarray:
    resized, _ = preprocess_batch([image])
    return np.ascontiguousarray(network_layout(resized)[0])


def _calibration_images(tables: Any, config: PackConfig) -> tuple[np.ndarray, dict[str, int]]:
    if config.calib_split not in tables.splits:
        raise UserError(f"{config.data} has no {config.calib_split!r} split to calibrate on")
    paths = [tables.image_path(config.calib_split, str(image_id))
             for image_id in tables.splits[config.calib_split]["ImageID"].unique()]
    chosen, report = pick_calibration_images(paths, config.calib_images)
    laid_out = []
    for path in tqdm(chosen, desc="calibration images", unit="img", disable=not config.progress, leave=False):
        try:
            laid_out.append(_layout(decode_image(path.read_bytes(), str(path))))
        except (UserError, OSError) as error:
            report.corrupt += 1
            log.warning("calibration: corrupt image skipped: %s", error)
    if not laid_out:
        raise UserError(f"none of the {len(chosen)} calibration images of {config.data} could be read")
    counts = {"requested": report.requested, "available": report.available, "used": len(laid_out),
              "corrupt": report.corrupt}
    return np.stack(laid_out), counts


def _evaluation_images(split: DetectionDataset, count: int, progress: bool) -> tuple[np.ndarray, list[int],
                                                                                     dict[str, Any]]:
    """The first `count` readable images of the split: laid-out pixels, their dataset indices and ground truth."""
    laid_out, indices = [], []
    truth: dict[str, Any] = {"ids": [], "sizes": [], "boxes": [], "labels": []}
    with tqdm(total=min(count, len(split)), desc="evaluation images", unit="img", disable=not progress,
              leave=False) as bar:
        for index in range(len(split)):
            if len(indices) == count:
                break
            try:
                sample = split[index]
            except CorruptImageError as error:
                log.warning("evaluation: corrupt image skipped: %s", error)
                continue
            laid_out.append(_layout(sample.image))
            indices.append(index)
            height, width = sample.image.shape[:2]
            truth["ids"].append(sample.image_id)
            truth["sizes"].append([int(width), int(height)])
            truth["boxes"].append(np.asarray(sample.boxes, np.float64).tolist())
            truth["labels"].append([int(label) for label in sample.labels])
            bar.update(1)
    if not indices:
        raise UserError(f"the {split.name} split has no readable image with boxes")
    return np.stack(laid_out), indices, truth


def _senders(config: PackConfig) -> dict[str, dict[str, Any]]:
    """The server's sender command for the Jetson's camera, per JetPack generation, from the Streams page's
    builder (core.gst.jetson_sender), so the Jetson program never writes a pipeline of its own."""
    from core.gst.addresses import server_ipv4_addresses
    from core.gst.jetson_sender import preset_options, sender_command

    host = config.stream_host or server_ipv4_addresses()[0].address
    senders = {}
    for jetpack, preset in SENDER_PRESETS.items():
        options = preset_options(preset, host, port=config.stream_port, camera=config.stream_camera)
        senders[str(jetpack)] = {"command": sender_command(options), "host": options.host, "port": options.port,
                                 "preset": preset}
    return senders


def _onnx_graphs(config: PackConfig, history: History, output: Path) -> tuple[str, dict[str, dict[str, str]]]:
    """Write the dynamic-batch graph (and the fixed-batch ones); returns the uuid of the run that made the graph."""
    target = output / ONNX_FILE
    fixed: dict[str, dict[str, str]] = {}
    if config.model.suffix.lower() == ".onnx":
        shutil.copyfile(config.model, target)
        producer = history.producer_uuid(file_sha256(target))
        if config.fixed_batch_graphs:
            log.warning("fixed-batch graphs are exported from a .pth; packing %s without them", config.model.name)
        return producer, fixed
    _, export_run = recorded_export(history, config.model, config.labels, target, dynamic_batch=True)
    if config.fixed_batch_graphs:
        for size in sorted(set(int(size) for size in config.batch_sizes)):
            name = f"model-b{size}.onnx"
            export_onnx(config.model, config.labels, output / name, batch_size=size, opset=DEFAULT_OPSET)
            fixed[str(size)] = {"file": name, "sha256": file_sha256(output / name)}
    return export_run.uuid, fixed


def _reference(config: PackConfig, history: History, onnx: Path, subset: _Subset, optimize_id: str,
               params: dict[str, Any]) -> tuple[RecordedRun, Any]:
    """The server's FP32 reference on the bundle's evaluation images, recorded as the invocation's ort-fp32 row (its
    parent, found by the ONNX graph's content, is the export run)."""
    target = TARGETS_BY_NAME[REFERENCE_TARGET]
    reference_params = {**params, "optimize_id": optimize_id, "target": target.name, "backend": target.backend,
                        "precision": target.precision, "reference": target.name, "threads": config.threads,
                        "eval_images": len(subset)}
    with history.record(RunKind.OPTIMIZE, reference_params, device=cpu_model()) as run:
        run.artifact(onnx, kind="input", format="onnx", precision="fp32")
        run.metric("model_bytes", onnx.stat().st_size, unit="B")
        detector = load_detector(evaluation_spec(onnx, config.labels, backend=target.backend, device="cpu",
                                                 threads=config.threads))
        try:
            result = evaluate(detector, subset, progress=config.progress)
        finally:
            detector.close()
        record_metrics(run, result)
    return run, result


def pack(config: PackConfig, history: History) -> PackResult:
    """Write the bundle to `config.output` (a bundle there before is replaced) and record the runs in `history`."""
    check_config(config)
    class_names = read_labels(config.labels)
    tables = read_dataset(config.data)
    split = open_split(tables, config.eval_split, class_names)
    optimize_id = str(uuid.uuid4())
    output = config.output
    params = {"weights": str(config.model), "labels": str(config.labels), "data": str(config.data),
              "eval_split": config.eval_split, "batch_sizes": [int(size) for size in config.batch_sizes]}
    pack_params = {**params, "output": str(output), "targets": list(config.targets), "calib_split": config.calib_split,
                   "calib_images": config.calib_images, "eval_images": config.eval_images,
                   "fixed_batch_graphs": config.fixed_batch_graphs, "optimize_id": optimize_id}
    _prepare_folder(output)
    try:
        return _pack_into(config, history, output, class_names, tables, split, optimize_id, params, pack_params)
    except BaseException:
        shutil.rmtree(output, ignore_errors=True)  # never a half-made bundle
        raise


def _pack_into(config: PackConfig, history: History, output: Path, class_names: list[str], tables: Any,
               split: DetectionDataset, optimize_id: str, params: dict[str, Any],
               pack_params: dict[str, Any]) -> PackResult:
    with history.record(RunKind.JETSON_PACK, pack_params) as run:
        run.artifact(config.model, kind="input")
        run.artifact(config.labels, kind="input", format="labels")
        onnx_run_uuid, fixed = _onnx_graphs(config, history, output)
        shutil.copyfile(config.labels, output / LABELS_FILE)
        calibration, calibration_counts = _calibration_images(tables, config)
        evaluation, indices, truth = _evaluation_images(split, config.eval_images, config.progress)
        _save_array(output / CALIBRATION_FILE, calibration)
        _save_array(output / EVALUATION_FILE, evaluation)
        write_text_atomic(output / GROUND_TRUTH, json.dumps(truth))
        size = sum(path.stat().st_size for path in output.iterdir() if path.is_file())
        if size > config.max_bundle_mb * 2**20:
            raise UserError(f"the bundle is {size / 2**20:.0f} MiB, over --max-bundle-mb {config.max_bundle_mb}; "
                            "pack fewer images or batch sizes")
        reference_run, reference = _reference(config, history, output / ONNX_FILE, _Subset(split, indices),
                                              optimize_id, params)
        files = sorted(path.name for path in output.iterdir() if path.is_file())
        manifest = {
            "format": FORMAT, "pack_run_uuid": run.uuid, "optimize_id": optimize_id,
            "model": {"weights": str(config.model), "labels": str(config.labels), "classes": class_names},
            "onnx": {"file": ONNX_FILE, "sha256": file_sha256(output / ONNX_FILE), "opset": DEFAULT_OPSET,
                     "run_uuid": onnx_run_uuid, "fixed_batch": fixed},
            "input": {"name": INPUT_NAME, "shape": [3, IMAGE_SIZE, IMAGE_SIZE], "layout": "NCHW", "channels": "RGB",
                      "dtype": "uint8", "mean": IMAGE_MEAN, "std": IMAGE_STD},
            "outputs": list(OUTPUT_NAMES),
            "targets": [{"name": name, "precision": TARGETS_BY_NAME[name].precision} for name in TENSORRT_TARGETS
                        if name in config.targets],
            "batch_sizes": sorted(set(int(size) for size in config.batch_sizes)),
            "dataset": {"name": config.data.name, "path": str(config.data)},
            "calibration": {"file": CALIBRATION_FILE, "sha256": file_sha256(output / CALIBRATION_FILE),
                            "images": len(calibration), "split": config.calib_split,
                            **{f"images_{key}": value for key, value in calibration_counts.items()}},
            "evaluation": {"file": EVALUATION_FILE, "sha256": file_sha256(output / EVALUATION_FILE),
                           "images": len(evaluation), "split": config.eval_split, "ids": truth["ids"],
                           "sizes": truth["sizes"], "ground_truth": GROUND_TRUTH},
            "reference": {"target": REFERENCE_TARGET, "run_uuid": reference_run.uuid,
                          "evaluation": reference.to_dict()},
            "sender": _senders(config),
            "files": {name: file_sha256(output / name) for name in files},
        }
        write_text_atomic(output / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for name in [*files, MANIFEST]:
            run.artifact(output / name, kind="output", format=Path(name).suffix.lstrip(".") or None)
        run.metric("bundle_bytes", size + (output / MANIFEST).stat().st_size, unit="B")
        run.metric("calib_images_used", len(calibration))
        run.metric("calib_images_corrupt", calibration_counts["corrupt"])
        run.metric("eval_images", len(evaluation))
        run.metric("reference_map50", reference.map50, unit=reference.voc_metric)
    return PackResult(output, run.id, reference_run.id, manifest)
