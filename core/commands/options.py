"""Command-line options shared by the commands that load a model."""
from __future__ import annotations

import argparse
from pathlib import Path

from core.detect.registry import BACKENDS

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")  # load_detector refuses what a backend cannot run
PRECISION_HELP = ("auto (default): the precision the model file has (fp32 for a .pth, int8 for a quantized ONNX); "
                  "any other value is refused unless the backend really runs it")


def add_model_options(parser: argparse.ArgumentParser, *, weights_help: str, runtime: bool = True) -> None:
    """--weights and --labels (required); with `runtime`, also --backend, --device and --precision."""
    parser.add_argument("--weights", required=True, type=Path, help=weights_help)
    parser.add_argument("--labels", required=True, type=Path, help="labels.txt (first line BACKGROUND)")
    if runtime:
        parser.add_argument("--backend", default="torch", choices=sorted(BACKENDS))
        parser.add_argument("--device", default="auto", choices=DEVICES)
        parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
