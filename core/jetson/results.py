"""`jetson import FOLDER`: merge what the Jetson program wrote into the history, with the accuracy of every engine
computed here from its raw outputs by the project's own decoding, NMS and evaluation (VOC2007 11-point mAP@0.5 as
eval_ssd.py, COCO mAP, per class), and ΔmAP against the server's FP32 reference on the same images.

The folder holds `runs.jsonl`, `eval/<target>.npz` (raw `scores`/`boxes` per evaluation image, with the image ids),
and the bundle's `manifest.json` and `ground-truth.json`. Everything is checked before anything is recorded (ids,
shapes, sha256, sizes), and the runs go in through the ledger's JSONL import in one transaction, so a bad folder
records nothing and importing the same folder twice adds nothing.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.detect.postprocess import postprocess
from core.errors import UserError
from core.files.digest import file_sha256
from core.ledger import History
from core.ledger.transfer import jsonl_text, parse_jsonl, read_jsonl
from core.optimize.eval_records import RecordsBuilder
from core.optimize.evaluate import (
    EVAL_SCORE_THRESHOLD,
    EvaluationResult,
    evaluation_result,
    record_deltas,
    record_metrics,
)
from core.optimize.voc_ap import USE_2007_METRIC
from jetson_kit.bundle import FORMAT, GROUND_TRUTH, MANIFEST
from jetson_kit.records import ARCHIVED, ARCHIVED_FOLDER, RUNS_FILE

OUTPUT_ARRAYS = ("scores", "boxes", "image_ids")
MAX_JSON_BYTES = 64 * 2**20
MAX_OUTPUT_BYTES = 4 * 2**30  # uncompressed raw outputs of one engine
MAX_ARCHIVE_BYTES = 8 * 2**30  # everything a results.zip unpacks to
MAX_ARCHIVE_MEMBERS = 64
POSTPROCESS_CHUNK = 64


@dataclass
class ImportSummary:
    added: int
    skipped: int
    evaluated: list[dict[str, Any]] = field(default_factory=list)


class _MetricList:
    """A `MetricsRecorder` that appends to a run record's metric list."""

    def __init__(self, metrics: list[dict[str, Any]]) -> None:
        self._metrics = metrics

    def metric(self, name: str, value: float, *, unit: str | None = None, epoch: int | None = None,
               class_name: str | None = None) -> None:
        self._metrics.append({"name": name, "value": float(value), "unit": unit, "epoch": epoch,
                              "class_name": class_name})


def _json_file(path: Path, what: str) -> Any:
    if not path.is_file():
        raise UserError(f"{path.parent} has no {path.name} ({what}); give the folder the Jetson program wrote")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise UserError(f"{path} is over {MAX_JSON_BYTES // 2**20} MiB; not a Jetson results file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{path} is not JSON ({error})") from None


@dataclass(frozen=True)
class GroundTruth:
    ids: list[str]
    sizes: np.ndarray  # (N, 2) width, height
    boxes: list[np.ndarray]
    labels: list[np.ndarray]

    @classmethod
    def read(cls, folder: Path, manifest: dict[str, Any]) -> GroundTruth:
        truth = _json_file(folder / GROUND_TRUTH, "the bundle's ground truth")
        try:
            ids = [str(image_id) for image_id in truth["ids"]]
            sizes = np.asarray(truth["sizes"], np.float32).reshape(-1, 2)
            boxes = [np.asarray(item, np.float64).reshape(-1, 4) for item in truth["boxes"]]
            labels = [np.asarray(item, np.int64).reshape(-1) for item in truth["labels"]]
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"{GROUND_TRUTH} is not the bundle's ground truth ({error})") from None
        if ids != [str(image_id) for image_id in manifest["evaluation"]["ids"]] or not (
                len(ids) == len(sizes) == len(boxes) == len(labels)):
            raise UserError(f"{GROUND_TRUTH} does not belong to the bundle of {MANIFEST}")
        return cls(ids, sizes, boxes, labels)


def _inside(folder: Path, relative: str) -> Path:
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise UserError(f"{relative} is outside {folder}")
    return path


def _load_outputs(path: Path, truth: GroundTruth, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, boxes) of an eval file, after checking its members, sizes, image ids and shapes."""
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = {Path(info.filename).stem: info.file_size for info in archive.infolist()}
    except (OSError, zipfile.BadZipFile) as error:
        raise UserError(f"{path.name} is not an evaluation output file ({error})") from None
    missing = [name for name in OUTPUT_ARRAYS if name not in sizes]
    if missing:
        raise UserError(f"{path.name} lacks {', '.join(missing)}")
    if sum(sizes.values()) > MAX_OUTPUT_BYTES:
        raise UserError(f"{path.name} unpacks to {sum(sizes.values()) / 2**30:.1f} GiB, over the "
                        f"{MAX_OUTPUT_BYTES // 2**30} GiB an import reads")
    try:
        with np.load(path, allow_pickle=False) as data:
            ids = [str(image_id) for image_id in data["image_ids"]]
            scores, boxes = data["scores"], data["boxes"]
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {path.name}: {error}") from None
    if ids != truth.ids:
        raise UserError(f"{path.name} holds other images than the bundle's evaluation set")
    count = len(truth.ids)
    if scores.ndim != 3 or scores.shape[0] != count or scores.shape[2] != classes or \
            boxes.shape != (count, scores.shape[1], 4):
        raise UserError(f"{path.name}: scores {scores.shape} and boxes {boxes.shape} are not the raw outputs of "
                        f"{count} images and {classes} classes")
    return scores, boxes


def evaluate_outputs(scores: np.ndarray, boxes: np.ndarray, truth: GroundTruth, class_names: list[str], *,
                     detector: dict[str, str], dataset: str) -> EvaluationResult:
    """Decode, suppress and score raw outputs exactly as `evaluate` scores a detector's."""
    builder = RecordsBuilder(list(class_names))
    for start in range(0, len(truth.ids), POSTPROCESS_CHUNK):
        stop = start + POSTPROCESS_CHUNK
        found = postprocess(scores[start:stop], boxes[start:stop], truth.sizes[start:stop], EVAL_SCORE_THRESHOLD)
        for index, detections in enumerate(found, start=start):
            width, height = truth.sizes[index]
            builder.add(width=int(width), height=int(height), gt_boxes=truth.boxes[index],
                        gt_labels=truth.labels[index], det_boxes=detections.boxes, det_scores=detections.scores,
                        det_labels=detections.labels)
    return evaluation_result(builder.build(), skipped_images=0, seconds=0.0, detect_seconds=0.0,
                             batch_size=POSTPROCESS_CHUNK, use_2007_metric=USE_2007_METRIC,
                             score_threshold=EVAL_SCORE_THRESHOLD, detector=detector, dataset=dataset)


def _output_file(folder: Path, record: dict[str, Any]) -> Path:
    relative = str(record["params"]["eval_outputs"])
    path = _inside(folder, relative)
    if not path.is_file():
        raise UserError(f"run {record.get('uuid')} names {relative}, which is not in {folder}")
    recorded = [item.get("sha256") for item in record.get("artifacts") or [] if item.get("format") == "npz"]
    if file_sha256(path) not in recorded:
        raise UserError(f"{relative} is not the file run {record.get('uuid')} wrote (sha256 differs)")
    return path


def with_accuracy(folder: Path, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict]]:
    """The records, each engine run with its accuracy and ΔmAP metrics added; and a summary line per engine."""
    manifest = _json_file(folder / MANIFEST, "the bundle's manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"{folder / MANIFEST} is not a bundle manifest of format {FORMAT}")
    truth = GroundTruth.read(folder, manifest)
    class_names = [str(name) for name in manifest["model"]["classes"]]
    reference = EvaluationResult.from_dict(manifest["reference"]["evaluation"])
    summary = []
    for record in records:
        params = record.get("params") if isinstance(record, dict) else None
        if not isinstance(params, dict) or not params.get("eval_outputs"):
            continue
        if params.get("bundle_uuid") != manifest["pack_run_uuid"]:
            raise UserError(f"run {record.get('uuid')} measured another bundle than this folder's {MANIFEST}")
        scores, boxes = _load_outputs(_output_file(folder, record), truth, len(class_names))
        result = evaluate_outputs(scores, boxes, truth, class_names,
                                  detector={"name": str(params.get("target")), "backend": "tensorrt",
                                            "device": str(record.get("device")),
                                            "precision": str(params.get("precision"))},
                                  dataset=str(manifest["dataset"]["name"]))
        metrics = list(record.get("metrics") or [])
        collector = _MetricList(metrics)
        record_metrics(collector, result)
        record_deltas(collector, result, reference)
        record["metrics"] = metrics
        summary.append({"target": params.get("target"), "map50": result.map50, "coco_map": result.coco_map,
                        "delta_map50": result.map50 - reference.map50, "images": result.images})
    return records, summary


def import_results(folder: Path, history: History) -> ImportSummary:
    """Record the Jetson's runs of `folder` with their accuracy in `history`; runs already there are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")
    runs_file = folder / RUNS_FILE
    if not runs_file.is_file():
        raise UserError(f"{folder} has no {RUNS_FILE}; give the folder the Jetson program wrote (--out)")
    if runs_file.stat().st_size > MAX_JSON_BYTES:
        raise UserError(f"{runs_file} is over {MAX_JSON_BYTES // 2**20} MiB")
    records, summary = with_accuracy(folder, list(read_jsonl(runs_file)))
    result = history.import_records(parse_jsonl(jsonl_text(records), str(runs_file)))  # checked as any import
    return ImportSummary(result.added, result.skipped, summary)


def _archive_member(name: str) -> bool:
    parts = name.split("/")
    return name in ARCHIVED or (len(parts) == 2 and parts[0] == ARCHIVED_FOLDER and parts[1].endswith(".npz")
                                and parts[1] not in ("", ".npz") and not parts[1].startswith("."))


def import_archive(name: str, data: bytes, history: History) -> ImportSummary:
    """Import a Jetson's `results.zip` (what the Runs page uploads): only its known members are unpacked, into a
    temporary folder, after checking their names, count and sizes."""
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise UserError(f"{name} is not a zip archive ({error})") from None
    with archive, tempfile.TemporaryDirectory(prefix="jetson-results-") as work:
        members = archive.infolist()
        unknown = [member.filename for member in members if not _archive_member(member.filename)]
        if unknown or len(members) > MAX_ARCHIVE_MEMBERS:
            raise UserError(f"{name} is not a Jetson results archive (unexpected {', '.join(unknown[:3]) or 'size'})")
        if sum(member.file_size for member in members) > MAX_ARCHIVE_BYTES:
            raise UserError(f"{name} unpacks to more than {MAX_ARCHIVE_BYTES // 2**30} GiB")
        for member in members:
            target = Path(work) / member.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
        return import_results(Path(work), history)
