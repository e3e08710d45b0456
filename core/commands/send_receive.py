"""`python -m core send` (demo/file/webcam -> RTP H.265/H.264) and `python -m core receive URI` (health + timings)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from core.commands.options import PRECISION_HELP, PRECISIONS, add_cuda_options, add_triton_options, runtime_fields
from core.commands.values import PORT, POSITIVE, SCORE, SECONDS, number, output_file, whole
from core.detect.base import DEFAULT_SCORE_THRESHOLD
from core.detect.registry import BACKENDS
from core.errors import UserError
from core.files.atomic import write_text_atomic
from core.gst.jetson_sender import (
    FPS_RANGE,
    HEIGHT_RANGE,
    HOST_PLACEHOLDER,
    WIDTH_RANGE,
    preset_options,
    sender_command,
)
from core.stream.nal import FORMATS
from core.stream.pipelines import sdp_text

if TYPE_CHECKING:
    from core.live.pipeline import LivePipeline, LiveResult

JETSON_HELP_PRESET = "jetpack5-usb-h265"  # the Jetson sender `send --help` shows


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_send(subparsers)
    _register_receive(subparsers)


def _register_send(subparsers: argparse._SubParsersAction) -> None:
    jetson = sender_command(preset_options(JETSON_HELP_PRESET, HOST_PLACEHOLDER))
    parser = subparsers.add_parser(
        "send", help="send the demo scene, a video file or a webcam as RTP H.265/H.264 (a stand-in for a Jetson)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"The equivalent sender on a Jetson (hardware encoder):\n  {jetson}\n"
               "Open the stream in ffplay with the SDP that --sdp writes.")
    parser.add_argument("--source", default="demo:", help="demo:, a video file or /dev/videoN (default demo:)")
    parser.add_argument("--codec", default="h265", choices=sorted(FORMATS))
    parser.add_argument("--host", default="127.0.0.1", help="receiver address (default 127.0.0.1)")
    parser.add_argument("--port", type=PORT, default=5000)
    parser.add_argument("--width", type=whole(*WIDTH_RANGE),
                        help="frame width (demo/webcam default 640; files: resize)")
    parser.add_argument("--height", type=whole(*HEIGHT_RANGE),
                        help="frame height (demo/webcam default 480; files: resize)")
    parser.add_argument("--fps", type=number(above=0.0, maximum=FPS_RANGE[1]), default=30.0,
                        help="frame rate of the demo/webcam (default 30)")
    parser.add_argument("--duration", type=SECONDS,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--sdp", type=output_file,
                        help="also write an SDP description of the stream here (for ffplay/VLC)")
    parser.set_defaults(func=run_send)


def _register_receive(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("receive", help="receive a stream (rtp://, rtsp://, gst:NAME, file, /dev/videoN, "
                                                   "demo:), optionally detect, and report health and timings")
    parser.add_argument("uri", help="e.g. rtp://0.0.0.0:5000?codec=h265 (on a Jetson, add &decoder=jetson for its "
                                    "hardware decoder)")
    parser.add_argument("--detect", action="store_true", help="run the detector on the frames")
    parser.add_argument("--weights", type=Path, help="model for --detect (.pth or .onnx)")
    parser.add_argument("--labels", type=Path, help="labels.txt for --detect")
    parser.add_argument("--backend", default="torch", choices=sorted(BACKENDS))
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    parser.add_argument("--threshold", type=SCORE, default=DEFAULT_SCORE_THRESHOLD)
    add_triton_options(parser)
    add_cuda_options(parser)
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--frames", type=POSITIVE, help="stop after this many processed frames")
    stop.add_argument("--duration", type=SECONDS, help="stop after this many seconds (default 10)")
    parser.add_argument("--timeout", type=SECONDS, default=30.0,
                        help="with --frames: give up after this many seconds (default 30)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    parser.set_defaults(func=run_receive)


def run_send(args: argparse.Namespace) -> int:
    from core.config import load_settings
    from core.stream.rtp_sender import run_sender
    from core.stream.sources import SourcePolicy

    if args.sdp:
        write_text_atomic(args.sdp, sdp_text(port=args.port, codec=args.codec, address=args.host))
    print(f"sending {args.source} as RTP {args.codec.upper()} to {args.host}:{args.port}"
          + (f" for {args.duration:g} s" if args.duration else " (Ctrl-C stops)"), file=sys.stderr)
    try:
        stats = run_sender(args.source, args.host, args.port, args.codec, width=args.width, height=args.height,
                           fps=args.fps, duration=args.duration,
                           policy=SourcePolicy.from_settings(load_settings()))
    except KeyboardInterrupt:
        return 130
    print(json.dumps(stats.as_dict()))
    return 0


def _load_detector(args: argparse.Namespace):
    from core.detect import DetectorSpec, load_detector

    if not args.detect:
        return None
    if not args.weights or not args.labels:
        raise UserError("--detect needs --weights and --labels")
    return load_detector(DetectorSpec(args.weights, args.labels, backend=args.backend, precision=args.precision,
                                      score_threshold=args.threshold, **runtime_fields(args)))


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else 0.0


def receive_report(pipeline: LivePipeline, results: list[LiveResult], elapsed: float) -> dict:
    """The `receive` JSON contract: health counters, timings and end-to-end latency over the whole run.

    Rates are over the stream's own time (first to last data received): `fps_arrival` counts frames as they
    arrive, `fps_decoded` (also `fps`) the pictures decoded, so a receiver waiting for a keyframe shows a low
    decoded rate (and `frames_skipped_waiting_keyframe`) instead of the sender's rate."""
    from core.timing.percentiles import percentiles

    stats = pipeline.stats()
    latencies = [result.latency_ms for result in results]
    health = stats["source"]
    fps_decoded = _rate(health["frames_decoded"], health["stream_seconds"])
    p50, p95 = (round(value, 3) for value in percentiles(latencies, [50, 95])) if latencies else (None, None)

    return {
        "uri": stats["uri"],
        "seconds": round(elapsed, 3),
        "frames_arrived": health["frames_arrived"],
        "frames_decoded": health["frames_decoded"],
        "frames_skipped_waiting_keyframe": health["frames_skipped"],
        "frames_processed": stats["frames_processed"],
        "fps": fps_decoded,
        "fps_decoded": fps_decoded,
        "fps_arrival": _rate(health["frames_arrived"], health["stream_seconds"]),
        "first_frame_ms": health["first_frame_ms"],
        "fps_processed": round(stats["frames_processed"] / elapsed, 2) if elapsed > 0 else 0.0,
        "packets": health["packets"],
        "packets_lost": health["packets_lost"],
        "decode_errors": health["decode_errors"],
        "width": health["width"],
        "height": health["height"],
        "latency_ms_p50": p50,
        "latency_ms_p95": p95,
        "stages_ms": stats["stages_ms"],
        "detector": stats["detector"],
        "health": health,
    }


def run_receive(args: argparse.Namespace) -> int:
    from core.config import load_settings
    from core.live.pipeline import LivePipeline
    from core.stream.sources import SourcePolicy, open_source, parse_source_uri

    policy = SourcePolicy.from_settings(load_settings())
    source = parse_source_uri(args.uri)  # parsed once: a malformed URI is refused before a model loads
    detector = _load_detector(args)
    limit = args.timeout if args.frames else (args.duration or 10.0)
    results: list[LiveResult] = []
    pipeline = LivePipeline(open_source(source, policy), detector).start()
    started = time.monotonic()
    last = 0
    try:
        while time.monotonic() - started < limit and not (args.frames and len(results) >= args.frames):
            result = pipeline.wait_result(last, timeout=min(0.5, max(limit - (time.monotonic() - started), 0.01)))
            if result is not None:
                results.append(result)
                last = result.sequence
            elif pipeline.source.ended:
                break
    except KeyboardInterrupt:
        pass
    finally:
        elapsed = time.monotonic() - started
        pipeline.stop()
    report = receive_report(pipeline, results, elapsed)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['uri']}: {report['frames_decoded']} frames decoded in {report['seconds']:.1f} s "
              f"({report['fps_decoded']} fps decoded, {report['fps_arrival']} fps arriving, first frame after "
              f"{report['first_frame_ms']} ms, {report['frames_skipped_waiting_keyframe']} skipped waiting for a "
              f"keyframe), {report['width']}x{report['height']}, {report['packets_lost']} packets lost, "
              f"{report['decode_errors']} decode errors, latency p50 {report['latency_ms_p50']} ms "
              f"p95 {report['latency_ms_p95']} ms")
    if not report["frames_decoded"]:
        print("no frames received (no signal)", file=sys.stderr)
        return 1
    return 0
