"""`python -m core serve`: our detector (frames in, detections out) or its network alone (tensors in, raw scores and
boxes out) behind a Triton Inference Server with dynamic batching."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.commands.options import DEVICES, PRECISION_HELP, PRECISIONS
from core.commands.values import NON_NEGATIVE, PORT, POSITIVE, SCORE
from core.detect.base import DEFAULT_SCORE_THRESHOLD
from core.serve.names import (
    CPU_QUEUE_DELAY_US,
    DEFAULT_GRPC_PORT,
    DEFAULT_HTTP_PORT,
    DEFAULT_INPUT,
    DEFAULT_INSTANCES,
    DEFAULT_MAX_BATCH,
    DEFAULT_METRICS_PORT,
    DEFAULT_MODEL_NAME,
    DEFAULT_QUEUE_DELAY_US,
    FRAMES_BACKENDS,
    INPUT_MODES,
    NETWORK_BACKENDS,
    default_queue_delay_us,
)

if TYPE_CHECKING:
    from core.serve.models import BoundModel, ModelSpec


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the detector (or its network alone) through Triton Inference Server (dynamic batching) for "
        "--backend triton clients",
        description="Starts tritonserver with the model on its Python backend (--instances processes; Triton's "
        "dynamic batcher groups the requests of every client into batches). --input frames (default): frames "
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
                        help="runtime of the model (default torch; --input tensors takes "
                        f"{' or '.join(NETWORK_BACKENDS)})")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    parser.add_argument("--threshold", type=SCORE, default=DEFAULT_SCORE_THRESHOLD,
                        help="--input frames: minimum class score the server returns (clients may ask for more)")
    parser.add_argument("--address", default="0.0.0.0", help="address to bind (default 0.0.0.0: the LAN)")
    parser.add_argument("--grpc-port", type=PORT, default=DEFAULT_GRPC_PORT)
    parser.add_argument("--http-port", type=PORT, default=DEFAULT_HTTP_PORT)
    parser.add_argument("--metrics-port", type=PORT, default=DEFAULT_METRICS_PORT)
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    parser.add_argument("--max-batch", type=POSITIVE, default=DEFAULT_MAX_BATCH,
                        help="largest batch Triton forms (a torch model runs every size up to it once at load)")
    parser.add_argument("--queue-delay-us", type=NON_NEGATIVE,
                        help=f"how long the dynamic batcher waits to fill a batch, in microseconds (default "
                        f"{DEFAULT_QUEUE_DELAY_US} on a GPU, {CPU_QUEUE_DELAY_US} on the CPU)")
    parser.add_argument("--instances", type=POSITIVE, default=DEFAULT_INSTANCES,
                        help=f"model instances, each a process of its own running one batch at a time "
                        f"(default {DEFAULT_INSTANCES})")
    parser.add_argument("--threads", type=POSITIVE,
                        help="CPU threads of each instance's runtime (default: this machine's cores / --instances)")
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


def _model_spec(args: argparse.Namespace) -> ModelSpec:
    from core.config import load_settings
    from core.serve.models import ModelSpec

    warmup = (1,)
    if args.backend == "torch":
        # On CUDA every batch size the batcher can form runs once at load, not first while serving: sizes up to
        # core.detect.torch_backend.MAX_GRAPHS are captured as CUDA graphs, and a larger one (run eagerly) pays a new
        # shape's one-time costs (cuDNN plans, lazily loaded kernels) there too. Met first while serving, each such
        # size held its batch 1.3 s (one H100), and as cameras were added and batches grew, processed frames fell
        # (assets/benchmarks/triton/profile.md).
        warmup = tuple(range(1, args.max_batch + 1))
    return ModelSpec(str(args.weights), str(args.labels), input=args.input, backend=args.backend, device=args.device,
                     precision=args.precision, score_threshold=args.threshold if args.input == "frames" else None,
                     threads=args.threads or max(1, (os.cpu_count() or 1) // args.instances),
                     max_pixels=load_settings().max_decoded_pixels,
                     warmup_batch_sizes=warmup).check()


def _checked_model(spec: ModelSpec) -> tuple[BoundModel, dict]:
    """Load the model once here, so a bad file, backend or precision is a one-line error before any server starts,
    and learn what really runs it; the instances then load the same spec."""
    import dataclasses
    import gc

    from core.serve.models import load_bound_model

    model, runtime = load_bound_model(dataclasses.replace(spec, warmup_batch_sizes=(1,)))
    served = dataclasses.replace(model, infer=None)  # its tensors and description; the instances run it
    del model
    gc.collect()
    return served, runtime


def run(args: argparse.Namespace) -> int:
    from core.commands.history import open_history
    from core.errors import UserError
    from core.ledger import RunKind
    from core.ledger.environment import cpu_model
    from core.serve.server import ServerOptions, triton_server

    options = ServerOptions(grpc_port=args.grpc_port, http_port=args.http_port, metrics_port=args.metrics_port,
                            address=args.address, model_name=args.model_name, max_batch=args.max_batch,
                            instances=args.instances, log_file=_log_file(args.grpc_port)).check()
    spec = _model_spec(args)
    model, runtime = _checked_model(spec)
    options = replace(options, queue_delay_us=default_queue_delay_us(runtime["device"])
                      if args.queue_delay_us is None else args.queue_delay_us)
    params = {"weights": args.weights, "labels": args.labels, "input": args.input, **runtime,
              "model_name": options.model_name, "max_batch": options.max_batch,
              "queue_delay_us": options.queue_delay_us, "instances": options.instances, "threads": spec.threads,
              "address": options.address,
              **{f"{name}_port": getattr(options, f"{name}_port") for name in ("grpc", "http", "metrics")}}
    _stop_on_sigterm()
    device = cpu_model() if runtime["device"] == "cpu" else None  # None: the machine's GPU
    with open_history(args) as history, history.record(RunKind.SERVE, params, device=device) as ledger_run:
        ledger_run.artifact(args.weights, kind="input")
        ledger_run.artifact(args.labels, kind="input", format="labels")
        with triton_server(spec, model, runtime["precision"], options) as server:
            print(json.dumps({"serving": options.model_name, "run_id": ledger_run.id, **options.endpoints(),
                              "log": str(options.log_file)}), flush=True)
            print("Ctrl-C stops the server", file=sys.stderr, flush=True)
            code = server.wait()
        raise UserError(f"tritonserver stopped by itself (exit code {code}); see {options.log_file}")
