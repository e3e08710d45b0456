"""A model repository for NVIDIA Triton Inference Server: `<repository>/<model>/config.pbtxt` and
`<repository>/<model>/1/model.onnx` (or `model.plan`).

The model is the detectNet graph (`input_0` FP32 [3,300,300] -> `scores` [3000,C], `boxes` [3000,4]) with Triton's
batch axis in front and dynamic batching on. Preprocessing, decoding and NMS stay in the client
(`core.detect.triton_backend`), so Triton's ONNX Runtime or TensorRT backend serves the same model as `core serve`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.model.config import ANCHORS_PER_LOCATION, IMAGE_SIZE, PRIOR_SPECS
from core.model.onnx_export import export_onnx
from core.model.onnx_names import BOXES_NAME, INPUT_NAME, OUTPUT_NAMES, SCORES_NAME
from core.serve.names import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MODEL_NAME,
    DEFAULT_QUEUE_DELAY_US,
    MODEL_PLATFORMS,
    PRECISION_PARAMETER,
)

MODEL_VERSION = "1"
NUM_PRIORS = sum(spec.feature_map_size ** 2 * ANCHORS_PER_LOCATION for spec in PRIOR_SPECS)
INPUT_DIMS = (3, IMAGE_SIZE, IMAGE_SIZE)


@dataclass(frozen=True)
class ModelFormat:
    """One way Triton can run the model: its platform name, the model file name and the precision written."""

    platform: str
    file_name: str


MODEL_FORMATS: dict[str, ModelFormat] = {name: ModelFormat(*place) for name, place in MODEL_PLATFORMS.items()}


def output_dims(num_classes: int) -> dict[str, tuple[int, ...]]:
    """Per-request output shapes (without the batch axis), by output name."""
    return {SCORES_NAME: (NUM_PRIORS, num_classes), BOXES_NAME: (NUM_PRIORS, 4)}


def check_model_name(name: str) -> str:
    if not name or not all(c.isalnum() or c in "._-" for c in name):
        raise UserError(f"model name must be letters, digits, dots, underscores or dashes, got {name!r}")
    return name


def _tensor(name: str, dims: tuple[int, ...]) -> str:
    return f'  {{\n    name: "{name}"\n    data_type: TYPE_FP32\n    dims: [ {", ".join(map(str, dims))} ]\n  }}'


def config_text(*, model_format: str, num_classes: int, model_name: str = DEFAULT_MODEL_NAME,
                max_batch_size: int = DEFAULT_MAX_BATCH, queue_delay_us: int = DEFAULT_QUEUE_DELAY_US,
                precision: str = "fp32") -> str:
    """The `config.pbtxt` text (Triton's ModelConfig protobuf in text format)."""
    if model_format not in MODEL_FORMATS:
        raise UserError(f"unknown model format {model_format!r} (known: {', '.join(MODEL_FORMATS)})")
    if max_batch_size < 1:
        raise UserError(f"max batch size must be at least 1, got {max_batch_size}")
    if queue_delay_us < 0:
        raise UserError(f"queue delay must not be negative, got {queue_delay_us}")
    outputs = output_dims(num_classes)
    return "\n".join([
        f'name: "{check_model_name(model_name)}"',
        f'platform: "{MODEL_FORMATS[model_format].platform}"',
        f"max_batch_size: {max_batch_size}",
        "input [",
        _tensor(INPUT_NAME, INPUT_DIMS),
        "]",
        "output [",
        ",\n".join(_tensor(name, outputs[name]) for name in OUTPUT_NAMES),
        "]",
        "dynamic_batching {",
        f"  max_queue_delay_microseconds: {queue_delay_us}",
        "}",
        "parameters {",
        f'  key: "{PRECISION_PARAMETER}"',
        f'  value {{ string_value: "{precision}" }}',
        "}",
        "",
    ])


def model_file(repository: Path, model_format: str, model_name: str = DEFAULT_MODEL_NAME) -> Path:
    """Where Triton looks for the model file: `<repository>/<model>/1/<file>`."""
    return Path(repository) / check_model_name(model_name) / MODEL_VERSION / MODEL_FORMATS[model_format].file_name


def config_path(repository: Path, model_name: str = DEFAULT_MODEL_NAME) -> Path:
    return Path(repository) / check_model_name(model_name) / "config.pbtxt"


def export_repository_onnx(weights: Path, labels: Path, repository: Path,
                           model_name: str = DEFAULT_MODEL_NAME) -> Path:
    """The dynamic-batch ONNX graph at its place in the repository (atomically written and checked)."""
    path = model_file(repository, "onnx", model_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return export_onnx(weights, labels, path, dynamic_batch=True)


def serve_command(repository: Path) -> str:
    """The command that serves the repository with NVIDIA's official container (pick the release: for a TensorRT
    plan, the one whose TensorRT version built it)."""
    return (f"docker run --gpus all --rm -p8000:8000 -p8001:8001 -p8002:8002 -v {Path(repository).resolve()}:/models "
            "nvcr.io/nvidia/tritonserver:<yy.mm>-py3 tritonserver --model-repository=/models")
