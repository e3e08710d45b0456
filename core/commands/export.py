"""`python -m core export-onnx`: the detectNet-compatible ONNX graph from a pytorch-ssd checkpoint."""
from __future__ import annotations

import argparse
import json

from core.commands.options import add_model_options
from core.commands.values import POSITIVE, output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-onnx",
        help="export a .pth to ONNX for jetson-inference's detectNet",
        description="Writes input_0 [N,3,300,300] -> scores [N,3000,C], boxes [N,3000,4]. On a Jetson: "
        "detectnet --model=ssd-mobilenet.onnx --labels=labels.txt --input-blob=input_0 "
        "--output-cvg=scores --output-bbox=boxes",
    )
    add_model_options(parser, weights_help="pytorch-ssd .pth checkpoint", runtime=False)
    parser.add_argument("--output", type=output_file,
                        help="output .onnx (default: ssd-mobilenet.onnx beside the weights)")
    parser.add_argument("--batch-size", type=POSITIVE, default=1, help="fixed batch size (default 1)")
    parser.add_argument("--dynamic-batch", action="store_true", help="make the batch axis dynamic")
    parser.add_argument("--opset", type=POSITIVE,
                        help="ONNX opset (default 11: every supported JetPack's TensorRT parses it)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.model.onnx_export import describe_onnx
    from core.commands.history import open_history
    from core.optimize.export_run import recorded_export

    output = args.output or args.weights.with_name("ssd-mobilenet.onnx")
    with open_history(args) as history:
        path, ledger_run = recorded_export(history, args.weights, args.labels, output, batch_size=args.batch_size,
                                           dynamic_batch=args.dynamic_batch, opset=args.opset)
    print(json.dumps({"onnx": str(path), "run_id": ledger_run.id, **describe_onnx(path)}, indent=2))
    return 0
