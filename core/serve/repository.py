"""The model repository `core serve` gives tritonserver: one model on the Python backend, several instances.

    <repository>/<model>/config.pbtxt                 backend "python", the tensors, dynamic batching, instances
    <repository>/<model>/eds-model.json               the ModelSpec every instance loads
    <repository>/<model>/1/model.py                   core/serve/triton_model.py

Instances are KIND_CPU even when the model runs on CUDA: tensors cross as host memory either way, and each instance
puts its model on the device itself.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from core.model.triton_repository import MODEL_VERSION, check_model_name
from core.serve.models import SPEC_FILE, BoundModel, ModelSpec, TensorSpec
from core.serve.names import PRECISION_PARAMETER

MODEL_SOURCE = Path(__file__).with_name("triton_model.py")
TRITON_TYPES = {np.dtype(np.uint8): "TYPE_UINT8", np.dtype(np.int32): "TYPE_INT32",
                np.dtype(np.float32): "TYPE_FP32"}


def _tensor(spec: TensorSpec) -> str:
    name, dtype, dims = spec
    return (f'  {{\n    name: "{name}"\n    data_type: {TRITON_TYPES[np.dtype(dtype)]}\n'
            f'    dims: [ {", ".join(map(str, dims))} ]\n  }}')


def python_config_text(*, model_name: str, model: BoundModel, precision: str, max_batch: int, queue_delay_us: int,
                       instances: int) -> str:
    """The `config.pbtxt` text (Triton's ModelConfig protobuf in text format)."""
    return "\n".join([
        f'name: "{check_model_name(model_name)}"',
        'backend: "python"',
        f"max_batch_size: {max_batch}",
        "input [", ",\n".join(map(_tensor, model.inputs)), "]",
        "output [", ",\n".join(map(_tensor, model.outputs)), "]",
        f"instance_group [\n  {{\n    count: {instances}\n    kind: KIND_CPU\n  }}\n]",
        "dynamic_batching {", f"  max_queue_delay_microseconds: {queue_delay_us}", "}",
        "parameters {", f'  key: "{PRECISION_PARAMETER}"', f'  value {{ string_value: "{precision}" }}', "}",
        "",
    ])


def write_python_repository(repository: Path, *, model_name: str, spec: ModelSpec, config: str) -> Path:
    """Write the repository of one Python-backend model; returns the model's folder."""
    folder = Path(repository) / check_model_name(model_name)
    (folder / MODEL_VERSION).mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(config)
    (folder / SPEC_FILE).write_text(spec.to_json())
    shutil.copyfile(MODEL_SOURCE, folder / MODEL_VERSION / "model.py")
    return folder
