"""`python -m core export-triton`: a Triton Inference Server model repository (config.pbtxt + ONNX or TensorRT plan)."""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from core.commands.options import add_model_options
from core.commands.values import NON_NEGATIVE, POSITIVE, output_folder
from core.serve.names import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MODEL_NAME,
    DEFAULT_QUEUE_DELAY_US,
    MODEL_PLATFORMS,
    TENSORRT_PRECISIONS,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-triton",
        help="write a Triton Inference Server model repository (dynamic batching, ONNX or TensorRT)",
        description="Writes OUTPUT/<model>/config.pbtxt and OUTPUT/<model>/1/model.onnx (or model.plan): input_0 "
        "FP32 [3,300,300] -> scores [3000,C], boxes [3000,4], batched by Triton. Decoding and NMS run in the client "
        "(--backend triton), and the command that serves the repository with NVIDIA's container is printed.",
    )
    add_model_options(parser, weights_help="pytorch-ssd .pth checkpoint", runtime=False)
    parser.add_argument("--output", required=True, type=output_folder,
                        help="model repository folder (e.g. model_repository)")
    parser.add_argument("--format", default="onnx", choices=tuple(MODEL_PLATFORMS),
                        help="onnx (Triton's ONNX Runtime backend, default) or tensorrt (a plan built here: needs "
                        "the GPU and TensorRT of the serving machine)")
    parser.add_argument("--precision", default="fp32", choices=TENSORRT_PRECISIONS,
                        help="tensorrt plan precision (onnx is always fp32)")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME, help="model name in the repository (default ssd)")
    parser.add_argument("--max-batch", type=POSITIVE, default=DEFAULT_MAX_BATCH, help="max_batch_size (default 32)")
    parser.add_argument("--queue-delay-us", type=NON_NEGATIVE, default=DEFAULT_QUEUE_DELAY_US,
                        help="dynamic batcher max queue delay in microseconds (default 2000)")
    parser.set_defaults(func=run)


def _build_plan(weights: Path, labels: Path, plan: Path, *, precision: str, max_batch: int) -> None:
    """A TensorRT plan with a batch profile 1..max_batch, built from a temporary ONNX export."""
    from core.files.atomic import atomic_path
    from core.model.onnx_export import export_onnx
    from core.optimize.tensorrt_build import build_engine

    with tempfile.TemporaryDirectory() as folder:
        onnx_path = export_onnx(weights, labels, Path(folder) / "ssd.onnx", dynamic_batch=True)
        engine = build_engine(onnx_path, Path(folder), precision=precision, batch_sizes=(1, max_batch),
                              calibration_images=None, progress=False)
        plan.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(plan) as temporary:
            shutil.copyfile(engine, temporary)


def run(args: argparse.Namespace) -> int:
    from core.commands.history import open_history
    from core.errors import UserError
    from core.files.atomic import write_text_atomic
    from core.ledger import RunKind
    from core.model import read_labels
    from core.model.triton_repository import config_path, config_text, export_repository_onnx, model_file, serve_command

    if args.format == "onnx" and args.precision != "fp32":
        raise UserError("the onnx format is fp32; --precision fp16 needs --format tensorrt")
    num_classes = len(read_labels(args.labels))
    text = config_text(model_format=args.format, num_classes=num_classes, model_name=args.model_name,
                       max_batch_size=args.max_batch, queue_delay_us=args.queue_delay_us, precision=args.precision)
    params = {"weights": str(args.weights), "labels": str(args.labels), "output": str(args.output),
              "format": args.format, "precision": args.precision, "model_name": args.model_name,
              "max_batch_size": args.max_batch, "queue_delay_us": args.queue_delay_us}
    with open_history(args) as history, history.record(RunKind.EXPORT, params) as ledger_run:
        if args.format == "onnx":
            model = export_repository_onnx(args.weights, args.labels, args.output, args.model_name)
        else:
            model = model_file(args.output, "tensorrt", args.model_name)
            _build_plan(args.weights, args.labels, model, precision=args.precision, max_batch=args.max_batch)
        config = write_text_atomic(config_path(args.output, args.model_name), text)
        ledger_run.artifact(args.weights, kind="input", format="pth")
        ledger_run.artifact(args.labels, kind="input", format="labels")
        ledger_run.artifact(model, kind="output", format=args.format, precision=args.precision)
        ledger_run.artifact(config, kind="output", format="pbtxt")
    command = serve_command(args.output)
    print(json.dumps({"repository": str(args.output), "model": str(model), "config": str(config),
                      "run_id": ledger_run.id, "serve": command}, indent=2))
    return 0
