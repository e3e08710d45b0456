"""`python -m core optimize`: build, measure, evaluate and record the optimization targets of one checkpoint."""
from __future__ import annotations

import argparse
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.commands.values import POSITIVE, output_folder, whole_list


def register(subparsers: argparse._SubParsersAction) -> None:
    from core.optimize.formats import (
        CALIBRATION_METHODS,
        CPU_TARGETS,
        DEFAULT_METHOD,
        DEFAULT_SCOPE,
        QUANT_SCOPES,
        describe_targets,
    )

    parser = subparsers.add_parser(
        "optimize",
        help="build, measure and evaluate FP16/INT8/TensorRT targets of a model",
        description="For each target: build its artifact (ONNX, INT8 ONNX, TensorRT engine), measure latency, "
        "throughput, 640x480 detect time, size and peak memory, evaluate mAP on the test split, and record one "
        "run chained to its parent. A target this machine cannot run is listed as skipped with the reason. "
        f"Targets: {describe_targets()}.",
    )
    parser.add_argument("--weights", required=True, type=Path, help="pytorch-ssd .pth checkpoint")
    parser.add_argument("--labels", required=True, type=Path, help="labels.txt (first line BACKGROUND)")
    parser.add_argument("--data", required=True, type=Path, help="dataset folder (test split evaluated, "
                        "calibration images from --calib-split)")
    parser.add_argument("--targets", default=",".join(CPU_TARGETS), help=f"comma-separated (default "
                        f"{','.join(CPU_TARGETS)}); parents and FP32 references are added")
    parser.add_argument("--calib-images", type=POSITIVE, default=500, help="INT8 calibration images (default 500)")
    parser.add_argument("--calib-method", default=DEFAULT_METHOD, choices=CALIBRATION_METHODS,
                        help="INT8 calibration method (default minmax; entropy/percentile need much more memory)")
    parser.add_argument("--calib-scope", default=DEFAULT_SCOPE, choices=QUANT_SCOPES,
                        help="quantize the convolution trunk and keep the softmax/decode tail in float (trunk, "
                        "default) or the whole graph")
    parser.add_argument("--calib-split", default="train", help="split to calibrate on (default train)")
    parser.add_argument("--split", default="test", help="split to evaluate on (default test)")
    parser.add_argument("--batch-sizes", type=whole_list(1), default=(1, 8, 32),
                        help="throughput batch sizes (default 1,8,32)")
    parser.add_argument("--repeats", type=POSITIVE, default=50, help="timed calls per measurement (default 50)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where targets that need no GPU run (default auto: torch on the GPU if there is one, "
                        "onnxruntime on the CPU)")
    parser.add_argument("--threads", type=POSITIVE, help="CPU threads for the runtimes (default: theirs)")
    parser.add_argument("--opset", type=POSITIVE, help="ONNX opset of the FP32 export (default 11)")
    parser.add_argument("--output", type=output_folder,
                        help="artifact folder (default: <data root>/optimize/<weights name>)")
    parser.add_argument("--db-url", help="SQLAlchemy URL of the ledger (default: from the settings)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so temporary files are removed and the run is recorded interrupted."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    from core.commands.history import open_history
    from core.config import load_settings
    from core.model.checkpoint import load_model
    from core.model.onnx_export import check_opset
    from core.optimize.comparison import comparison_table, markdown_table, optimize_runs
    from core.optimize.formats import parse_targets
    from core.optimize.measure import SpeedConfig
    from core.optimize.pipeline import OptimizeConfig, optimize

    # inputs every target needs are checked here, so a mistake is one error instead of a table of failed targets
    load_model(args.weights, args.labels)
    check_opset(args.opset)
    output = args.output or load_settings().data_root / "optimize" / args.weights.stem
    config = OptimizeConfig(
        weights=args.weights, labels=args.labels, data=args.data, output=output, targets=parse_targets(args.targets),
        calib_images=args.calib_images, calib_method=args.calib_method, calib_scope=args.calib_scope,
        calib_split=args.calib_split, eval_split=args.split,
        speed=SpeedConfig(repeats=args.repeats, batch_sizes=args.batch_sizes), threads=args.threads,
        device=args.device, opset=args.opset, progress=not args.no_progress,
    )
    with open_history(args) as history:
        with sigterm_interrupts():
            optimize_id, outcomes = optimize(config, history)
        runs = optimize_runs(history, optimize_id=optimize_id)
    skipped = [(outcome.target.name, outcome.skipped) for outcome in outcomes if outcome.skipped]
    print(markdown_table(comparison_table(None, runs, skipped)))
    return 1 if any(outcome.failed for outcome in outcomes) else 0
