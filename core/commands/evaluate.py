"""`python -m core evaluate`: mAP of a model on a dataset split (VOC mAP@0.5 as eval_ssd.py, by default its 11-point
VOC 2007 AP; COCO mAP), per class."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from core.commands.options import add_model_options, runtime_fields
from core.commands.values import POSITIVE, output_file
from core.files.jsonio import write_json
from core.optimize.voc_ap import USE_2007_METRIC, voc_metric_name

if TYPE_CHECKING:
    from core.optimize.evaluate import EvaluationResult


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="mAP of a model on a dataset split",
        description="Detects on every image of the split with a 0.01 score threshold and reports VOC mAP@0.5 "
        "(pytorch-ssd eval_ssd.py's number: the 11-point VOC 2007 AP unless --no-use-2007-metric) and COCO "
        "mAP@[.5:.95] and AP50, overall and per class, and records an evaluation run in the ledger.",
    )
    add_model_options(parser, weights_help="pytorch-ssd .pth checkpoint or exported .onnx")
    parser.add_argument("--data", required=True, type=Path, help="dataset folder (Open Images downloader or VOC)")
    parser.add_argument("--split", default="test", help="split to evaluate on (default: test)")
    parser.add_argument("--batch-size", type=POSITIVE, default=8, help="images per detector call (default 8)")
    parser.add_argument("--threads", type=POSITIVE, help="CPU threads for the runtime (default: the runtime's)")
    parser.add_argument("--use-2007-metric", action=argparse.BooleanOptionalAction, default=USE_2007_METRIC,
                        help=f"VOC AP as the 11-point VOC 2007 mean, like eval_ssd.py (default: "
                        f"{voc_metric_name(USE_2007_METRIC)}); --no-use-2007-metric: the area under the interpolated "
                        "curve (VOC 2010+)")
    parser.add_argument("--json", type=output_file, help="also write the full result as JSON here")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_result(result: EvaluationResult) -> str:
    """A per-class table and the overall numbers, as plain text."""
    width = max([len("class"), *(len(item.name) for item in result.classes)])
    voc = f"AP@0.5 {result.voc_metric}"
    voc_width = len(voc)
    lines = [f"{'class':<{width}}  {'boxes':>6}  {'dets':>7}  {voc:>{voc_width}}  {'COCO AP':>8}  {'COCO AP50':>9}"]
    for item in result.classes:
        lines.append(f"{item.name:<{width}}  {item.ground_truth:>6}  {item.detections:>7}  "
                     f"{_value(item.ap50):>{voc_width}}  {_value(item.coco_map):>8}  {_value(item.coco_map50):>9}")
    detector = result.detector
    lines += [
        "",
        f"mAP@0.5 ({result.voc_metric}): {result.map50:.4f}",
        f"COCO mAP@[.5:.95]: {result.coco_map:.4f}   COCO mAP@.5: {result.coco_map50:.4f}",
        f"{result.images} images ({result.skipped_images} unreadable skipped), {result.ground_truth_boxes} boxes, "
        f"{result.detections} detections at score > {result.score_threshold:g}",
        f"{result.images_per_sec:.1f} img/s overall, {result.detector_images_per_sec:.1f} img/s in the detector "
        f"({detector['backend']} {detector['precision']} on {detector['device']}, batch {result.batch_size})",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from core.commands.history import open_history
    from core.data.readers import open_split, read_dataset
    from core.detect import load_detector
    from core.ledger import RunKind
    from core.ledger.environment import cpu_model
    from core.optimize.evaluate import evaluate, evaluation_spec, record_metrics

    tables = read_dataset(args.data)
    spec = evaluation_spec(args.weights, args.labels, backend=args.backend, device=args.device,
                           precision=args.precision, threads=args.threads)
    detector = load_detector(dataclasses.replace(spec, **runtime_fields(args)))
    try:
        dataset = open_split(tables, args.split, detector.class_names)
        params = {"weights": str(args.weights), "labels": str(args.labels), "data": str(args.data),
                  "split": args.split, "backend": detector.backend, "device": detector.device,
                  "precision": detector.precision, "batch_size": args.batch_size,
                  "use_2007_metric": args.use_2007_metric, "score_threshold": spec.score_threshold}
        with open_history(args) as history, history.record(
                RunKind.EVALUATION, params, device=cpu_model() if detector.device == "cpu" else None) as ledger_run:
            ledger_run.artifact(args.weights, kind="input")
            ledger_run.artifact(args.labels, kind="input", format="labels")
            result = evaluate(detector, dataset, batch_size=args.batch_size, progress=not args.no_progress,
                              use_2007_metric=args.use_2007_metric)
            record_metrics(ledger_run, result)
    finally:
        detector.close()
    if dataset.report.problems:
        print(f"dataset: {dataset.report.summary()}")
    print(format_result(result))
    if args.json:
        write_json({**result.to_dict(), "run_id": ledger_run.id, "dataset_report": dataset.report.to_dict()}, args.json)
    return 0
