"""Command-line options shared by the commands that load a model."""
from __future__ import annotations

import argparse
from pathlib import Path

from core.detect.registry import BACKENDS
from core.serve.names import DEFAULT_MODEL_NAME

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
        add_triton_options(parser)
        add_cuda_options(parser)


CUDA_GRAPH_CHOICES = {"auto": None, "on": True, "off": False}


def add_cuda_options(parser: argparse.ArgumentParser) -> None:
    """--cuda-graph and --compile: how `--backend torch` runs on a CUDA GPU."""
    parser.add_argument("--cuda-graph", default="auto", choices=list(CUDA_GRAPH_CHOICES),
                        help="torch on CUDA: replay captured CUDA graphs (auto, the default: on with CUDA)")
    parser.add_argument("--compile", action="store_true",
                        help="torch on CUDA: fuse kernels with torch.compile at load (faster batches, slower load)")


def cuda_fields(args: argparse.Namespace) -> dict:
    """The DetectorSpec fields of --cuda-graph/--compile."""
    return {"cuda_graph": CUDA_GRAPH_CHOICES[args.cuda_graph], "compile": args.compile}


def add_triton_options(parser: argparse.ArgumentParser) -> None:
    """--triton-url and --triton-model: where `--backend triton` sends the frames (`python -m core serve` or NVIDIA's
    Triton serving an `export-triton` repository); --labels still names the classes, --weights is not read."""
    parser.add_argument("--triton-url", help="with --backend triton: the inference server, grpc://HOST:PORT")
    parser.add_argument("--triton-model", default=DEFAULT_MODEL_NAME,
                        help=f"with --backend triton: the model name (default {DEFAULT_MODEL_NAME})")


def triton_fields(args: argparse.Namespace) -> dict:
    """The DetectorSpec fields of --triton-url/--triton-model."""
    return {"triton_url": args.triton_url, "triton_model": args.triton_model}


def runtime_fields(args: argparse.Namespace) -> dict:
    """The DetectorSpec fields of the Triton and CUDA options (`add_model_options` adds both)."""
    return {**triton_fields(args), **cuda_fields(args)}
