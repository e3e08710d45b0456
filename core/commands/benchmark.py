"""`python -m core benchmark detect`: how fast one model detects, from a BGR frame to final boxes, recorded as a
`benchmark` run. The whole suite of scenarios is `python -m benchmarks`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.commands.options import add_model_options, runtime_fields
from core.commands.values import NON_NEGATIVE, POSITIVE, SCORE, number
from core.detect.base import DEFAULT_SCORE_THRESHOLD


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("benchmark", help="measure detection speed")
    commands = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    detect = commands.add_parser(
        "detect", help="ms per image of detect(), BGR frame to boxes, with its stages",
        description="Warms up, then calls detect() until both --iterations calls and --min-seconds have passed; "
        "prints the median and p95 ms per image, images per second and the per-stage split (resize, network with "
        "normalization, decode + NMS), and records a benchmark run.")
    add_model_options(detect, weights_help="pytorch-ssd .pth checkpoint or exported (or INT8) .onnx")
    detect.add_argument("--image", type=Path, help="frame to detect in (default: a seeded 640x480 noise frame)")
    detect.add_argument("--batch-size", type=POSITIVE, default=1, help="frames per detect() call (default 1)")
    detect.add_argument("--threads", type=POSITIVE, default=2, help="CPU threads for the runtime (default 2)")
    detect.add_argument("--iterations", type=POSITIVE, default=50, help="at least this many timed calls (default 50)")
    detect.add_argument("--min-seconds", type=number(0.0), default=2.0, help="and at least this long (default 2)")
    detect.add_argument("--warmup", type=NON_NEGATIVE, default=5, help="untimed calls first (default 5)")
    detect.add_argument("--threshold", type=SCORE, default=DEFAULT_SCORE_THRESHOLD, help="minimum class score")
    detect.add_argument("--json", action="store_true", help="print one JSON object instead of a sentence")
    detect.set_defaults(func=run_detect)


def run_detect(args: argparse.Namespace) -> int:
    from core.detect import DetectorSpec, load_detector
    from core.commands.history import open_history
    from core.ledger import RunKind
    from core.optimize.measure import RepeatConfig, benchmark_frame, measure_detect_call

    frame = benchmark_frame(args.image)
    spec = DetectorSpec(args.weights, args.labels, backend=args.backend, device=args.device,
                        precision=args.precision, score_threshold=args.threshold, threads=args.threads,
                        **runtime_fields(args))
    params = {"weights": str(args.weights), "labels": str(args.labels), "image": str(args.image or "noise 640x480"),
              "backend": args.backend, "requested_precision": args.precision, "batch_size": args.batch_size,
              "threads": args.threads, "iterations": args.iterations, "min_seconds": args.min_seconds}
    with open_history(args) as history, history.record(RunKind.BENCHMARK, {"benchmark": "detect", **params}) as run:
        detector = load_detector(spec)
        try:
            config = RepeatConfig(warmup=args.warmup, min_seconds=args.min_seconds, min_repeats=args.iterations)
            timing = measure_detect_call(detector, [frame] * args.batch_size, config)
        finally:
            detector.close()
        result = {"backend": detector.backend, "precision": detector.precision, "device": detector.device,
                  "threads": args.threads, "frame": [int(frame.shape[1]), int(frame.shape[0])], **timing,
                  "run_id": run.id}
        for name in ("median_ms", "p95_ms", "images_per_sec"):
            run.metric(name, timing[name], unit="img/s" if name == "images_per_sec" else "ms")
        for stage, value in (timing["stages_ms"] or {}).items():
            run.metric(f"{stage}_ms", value, unit="ms")
    if args.json:
        print(json.dumps(result))
        return 0
    stages = ", ".join(f"{name} {value:.2f}" for name, value in (result["stages_ms"] or {}).items())
    print(f"{result['backend']} {result['precision']} on {result['device']}, batch {result['batch_size']}, "
          f"{args.threads} threads: median {result['median_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms per image, "
          f"{result['images_per_sec']:.1f} img/s over {result['repeats']} calls (stages, ms per image: {stages}; "
          f"run {run.id})")
    return 0
