"""`python -m core detect`: detect objects in one image, print/save JSON and an annotated copy."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.commands.options import add_model_options, runtime_fields
from core.commands.values import SCORE, output_file
from core.detect.base import DEFAULT_SCORE_THRESHOLD
from core.files.jsonio import write_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("detect", help="detect objects in an image")
    add_model_options(parser, weights_help="pytorch-ssd .pth checkpoint or exported .onnx")
    parser.add_argument("--image", required=True, type=Path)
    parser.add_argument("--threshold", type=SCORE, default=DEFAULT_SCORE_THRESHOLD, help="minimum class score")
    parser.add_argument("--json", type=output_file, help="write the detections JSON here (stdout always gets it)")
    parser.add_argument("--output", type=output_file, help="write an annotated copy of the image here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.detect import DetectorSpec, load_detector
    from core.detect.overlay import draw_detections
    from core.pictures.imageio import check_image_output, read_image, write_image

    if args.output:
        check_image_output(args.output)
    image = read_image(args.image)
    spec = DetectorSpec(args.weights, args.labels, backend=args.backend, device=args.device,
                        precision=args.precision, score_threshold=args.threshold, **runtime_fields(args))
    detector = load_detector(spec)
    try:
        (detections,) = detector.detect([image])
    finally:
        detector.close()
    result = {
        "image": str(args.image),
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "detections": detections.to_records(detector.class_names),
    }
    if args.json:
        write_json(result, args.json)
    if args.output:
        write_image(draw_detections(image, detections, detector.class_names), args.output)
    print(json.dumps(result, indent=2))
    return 0
