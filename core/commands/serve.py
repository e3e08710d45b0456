"""`python -m core serve`: our detector (frames in, detections out) or its network alone (tensors in, raw scores and
boxes out) behind a Triton Inference Server with dynamic batching."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.commands.options import DEVICES, PRECISION_HELP, PRECISIONS
from core.commands.values import NON_NEGATIVE, PORT, POSITIVE, SCORE
from core.commands.export_triton import DEFAULT_MAX_BATCH, DEFAULT_MODEL_NAME, DEFAULT_QUEUE_DELAY_US
from core.detect.base import DEFAULT_SCORE_THRESHOLD

SERVE_BACKENDS = ("torch", "onnxruntime")  # core.serve.network's (kept equal by a test), without loading torch
FRAMES_BACKENDS = (*SERVE_BACKENDS, "tensorrt")  # the whole detector runs on any local backend
INPUT_MODES = ("frames", "tensors")
DEFAULT_INPUT = "frames"  # what a camera client has; tensors is the mode NVIDIA's container serves

if TYPE_CHECKING:
    from core.serve.server import BoundModel


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the detector (or its network alone) through Triton Inference Server (dynamic batching) for "
        "--backend triton clients",
        description="Starts tritonserver (PyTriton) with the model bound as `ssd`. --input frames (default): frames "
        "UINT8 [H,W,3] (BGR, any size; requests of one size are batched together) -> boxes FP32 [M,4] (pixels of "
        "the frame), scores FP32 [M], labels INT32 [M], count INT32 [1] (rows past count are padding): the server "
        "runs the whole detector. --input tensors: input_0 FP32 [3,300,300] (preprocessed by the client) -> scores "
        "[3000,C], boxes [3000,4], the same model NVIDIA's container serves from export-triton. Clients: any command "
        "with --backend triton --triton-url grpc://HOST:GRPC_PORT (either mode). Health: "
        "http://HOST:HTTP_PORT/v2/health/ready; Prometheus metrics: http://HOST:METRICS_PORT/metrics. Ctrl-C stops it.",
    )
    parser.add_argument("--weights", required=True, help="pytorch-ssd .pth checkpoint (or .onnx with onnxruntime, "
                        ".engine with tensorrt)")
    parser.add_argument("--labels", required=True, help="labels.txt (first line BACKGROUND)")
    parser.add_argument("--input", default=DEFAULT_INPUT, choices=INPUT_MODES,
                        help="frames (default): BGR uint8 frames in, detections out; tensors: preprocessed tensors "
                        "in, raw network outputs out (decoding and NMS in the client)")
    parser.add_argument("--backend", default="torch", choices=FRAMES_BACKENDS,
                        help=f"runtime of the model (default torch; --input tensors takes {' or '.join(SERVE_BACKENDS)})")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    parser.add_argument("--threshold", type=SCORE, default=DEFAULT_SCORE_THRESHOLD,
                        help="--input frames: minimum class score the server returns (clients may ask for more)")
    parser.add_argument("--address", default="0.0.0.0", help="address to bind (default 0.0.0.0: the LAN)")
    parser.add_argument("--grpc-port", type=PORT, default=8001)
    parser.add_argument("--http-port", type=PORT, default=8000)
    parser.add_argument("--metrics-port", type=PORT, default=8002)
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    parser.add_argument("--max-batch", type=POSITIVE, default=DEFAULT_MAX_BATCH, help="largest batch Triton forms")
    parser.add_argument("--queue-delay-us", type=NON_NEGATIVE, default=DEFAULT_QUEUE_DELAY_US,
                        help="how long the dynamic batcher waits to fill a batch, in microseconds (default 2000)")
    parser.set_defaults(func=run)


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager, `kill`) stops the server the way Ctrl-C does."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _log_file(grpc_port: int) -> Path:
    """tritonserver's log, under the data root (stdout stays one JSON line)."""
    from core.config import load_settings

    folder = load_settings().data_root / "serve"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"tritonserver-{grpc_port}.log"


def _bound_model(args: argparse.Namespace) -> tuple[BoundModel, dict]:
    """The model to serve in the chosen input mode, and the params it adds to the run (what really runs)."""
    if args.input == "tensors":
        from core.errors import UserError
        from core.serve.network import load_network
        from core.serve.server import tensors_model

        if args.backend not in SERVE_BACKENDS:
            raise UserError(f"--input tensors runs the network with {' or '.join(SERVE_BACKENDS)}; "
                            f"{args.backend} serves --input frames")
        network = load_network(Path(args.weights), Path(args.labels), backend=args.backend, device=args.device,
                               precision=args.precision)
        return tensors_model(network), {"backend": network.backend, "device": network.device,
                                        "precision": network.precision}
    from core.config import load_settings
    from core.detect import DetectorSpec, load_detector
    from core.serve.frames import frames_model

    detector = load_detector(DetectorSpec(Path(args.weights), Path(args.labels), backend=args.backend,
                                          device=args.device, precision=args.precision,
                                          score_threshold=args.threshold))
    return frames_model(detector, load_settings().max_decoded_pixels), {
        "backend": detector.backend, "device": detector.device, "precision": detector.precision,
        "score_threshold": detector.score_threshold}


def run(args: argparse.Namespace) -> int:
    from core.commands.history import open_history
    from core.ledger import RunKind
    from core.ledger.environment import cpu_model
    from core.serve.server import ServerOptions, triton_server

    options = ServerOptions(grpc_port=args.grpc_port, http_port=args.http_port, metrics_port=args.metrics_port,
                            address=args.address, model_name=args.model_name, max_batch=args.max_batch,
                            queue_delay_us=args.queue_delay_us, log_file=_log_file(args.grpc_port)).check()
    model, runtime = _bound_model(args)
    params = {"weights": args.weights, "labels": args.labels, "input": args.input, **runtime,
              "model_name": options.model_name, "max_batch": options.max_batch,
              "queue_delay_us": options.queue_delay_us, "address": options.address,
              **{f"{name}_port": getattr(options, f"{name}_port") for name in ("grpc", "http", "metrics")}}
    _stop_on_sigterm()
    device = cpu_model() if runtime["device"] == "cpu" else None  # None: the machine's GPU
    with open_history(args) as history, history.record(RunKind.SERVE, params, device=device) as ledger_run:
        ledger_run.artifact(args.weights, kind="input")
        ledger_run.artifact(args.labels, kind="input", format="labels")
        with triton_server(model, options) as triton:
            print(json.dumps({"serving": options.model_name, "run_id": ledger_run.id, **options.endpoints(),
                              "log": str(options.log_file)}), flush=True)
            print("Ctrl-C stops the server", file=sys.stderr, flush=True)
            triton.serve()
    return 0
