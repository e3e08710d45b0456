"""`python -m core jetson pack|import`: the bundle the Jetson program measures, and its results brought home."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from core.commands.options import add_model_options
from core.commands.values import PORT, POSITIVE, output_folder, whole_list
from core.errors import UserError
from core.optimize.formats import TENSORRT_TARGETS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("jetson", help="bundle a model for the Jetson program, import its results",
                                   description="On the server: `jetson pack` writes the folder to copy to the "
                                   "Jetson (`bash scripts/jetson.sh all --bundle FOLDER` there); `jetson import` "
                                   "records what it sends back, with mAP computed here.")
    parser.add_argument("--db-url", help="SQLAlchemy URL of the ledger (default: from the settings)")
    actions = parser.add_subparsers(dest="jetson_command", required=True, metavar="ACTION")

    pack = actions.add_parser("pack", help="ONNX graph, images and manifest for the Jetson program")
    add_model_options(pack, weights_help="pytorch-ssd .pth (exported to ONNX here) or its .onnx export", runtime=False)
    pack.add_argument("--data", required=True, type=Path, help="dataset folder (Open Images or VOC layout)")
    pack.add_argument("--output", required=True, type=output_folder,
                      help="the bundle folder to write (new, or a bundle)")
    pack.add_argument("--targets", default=",".join(TENSORRT_TARGETS),
                      help=f"engines the Jetson builds (default {','.join(TENSORRT_TARGETS)})")
    pack.add_argument("--batch-sizes", type=whole_list(1), default=(1, 8, 32),
                      help="engine batch sizes (default 1,8,32)")
    pack.add_argument("--calib-images", type=POSITIVE, default=100, help="INT8 calibration images (default 100)")
    pack.add_argument("--eval-images", type=POSITIVE, default=200, help="evaluation images (default 200)")
    pack.add_argument("--calib-split", default="train")
    pack.add_argument("--eval-split", default="test")
    pack.add_argument("--no-fixed-batch-graphs", dest="fixed_batch_graphs", action="store_false",
                      help="leave out the fixed-batch graphs TensorRT 7 builds from (smaller bundle)")
    pack.add_argument("--max-bundle-mb", type=POSITIVE, default=1024, help="refuse a bundle larger than this (1024)")
    pack.add_argument("--stream-host", help="this server's address for the Jetson's sender (default: first LAN "
                                            "IPv4 address)")
    pack.add_argument("--stream-port", type=PORT, default=5000, help="UDP port of the sender's stream (5000)")
    pack.add_argument("--stream-camera", default="/dev/video0", help="/dev/videoN (USB) or csi[:N]")
    pack.add_argument("--threads", type=POSITIVE, help="CPU threads of the ONNX Runtime reference")
    pack.add_argument("--no-progress", dest="progress", action="store_false")
    pack.set_defaults(func=run_pack)

    importing = actions.add_parser("import", help="record a Jetson results folder, with mAP computed here")
    importing.add_argument("folder", type=Path, help="the folder the Jetson program wrote (its --out)")
    importing.set_defaults(func=run_import)


def run_pack(args: argparse.Namespace) -> int:
    from core.commands.history import open_history
    from core.jetson.pack import PackConfig, pack

    targets = tuple(name.strip() for name in args.targets.split(",") if name.strip())
    if not targets:
        raise UserError("--targets names no target")
    config = PackConfig(
        model=args.weights, labels=args.labels, data=args.data, output=args.output, targets=targets,
        batch_sizes=tuple(args.batch_sizes), calib_images=args.calib_images, eval_images=args.eval_images,
        calib_split=args.calib_split, eval_split=args.eval_split, fixed_batch_graphs=args.fixed_batch_graphs,
        max_bundle_mb=args.max_bundle_mb, stream_host=args.stream_host, stream_port=args.stream_port,
        stream_camera=args.stream_camera, threads=args.threads, progress=args.progress)
    with open_history(args) as history:
        result = pack(config, history)
    reference = result.manifest["reference"]["evaluation"]
    print(json.dumps({"bundle": str(result.output), "run_id": result.run_id,
                      "reference_run_id": result.reference_run_id, "reference_map50": reference["map50"],
                      "evaluation_images": result.manifest["evaluation"]["images"],
                      "on_the_jetson": f"bash scripts/jetson.sh all --bundle {result.output.name} --out jetson-out"},
                     indent=2))
    return 0


def run_import(args: argparse.Namespace) -> int:
    from core.commands.history import open_history
    from core.jetson.results import import_results

    with open_history(args) as history:
        summary = import_results(args.folder, history)
    print(json.dumps(asdict(summary), indent=2))
    return 0
