"""Command-line options shared by the commands that load a model."""
from __future__ import annotations

import argparse
from pathlib import Path

from core.detect.registry import BACKENDS

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "int8")


def add_model_options(parser: argparse.ArgumentParser, *, weights_help: str, runtime: bool = True) -> None:
    """--weights and --labels (required); with `runtime`, also --backend, --device and --precision."""
    parser.add_argument("--weights", required=True, type=Path, help=weights_help)
    parser.add_argument("--labels", required=True, type=Path, help="labels.txt (first line BACKGROUND)")
    if runtime:
        parser.add_argument("--backend", default="torch", choices=sorted(BACKENDS))
        parser.add_argument("--device", default="auto", choices=DEVICES)
        parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
