"""The model tritonserver's Python backend runs for `core serve` (copied into the repository as `<model>/1/model.py`).

Every instance is a stub process of its own with its own interpreter, so instances run batches in parallel without
sharing a GIL, and tritonserver hands them requests directly (no proxy in between). Each instance loads the
`ModelSpec` written beside the model's config, and runs each execution's requests with `run_requests`.

Tensors cross between the stub and NumPy through DLPack: the stub's `as_numpy()` / `Tensor(name, array)` are built
against NumPy 1 and read and write wrong under the project's NumPy 2 (`as_numpy()` returned all ones for [1..8];
outputs of 0 bytes), while `numpy.from_dlpack` / `Tensor.from_dlpack` do not go through that binding. Outputs are
handed over as torch tensors sharing the arrays' memory: a NumPy 2 array's own DLPack capsule made the stub print a
ValueError traceback for every output tensor (four a request, on the server's stderr and its CPU).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import triton_python_backend_utils as pb_utils  # the stub provides it

from core.serve.models import SPEC_FILE, ModelSpec, load_bound_model, run_requests


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        spec = ModelSpec.from_json((Path(args["model_repository"]) / SPEC_FILE).read_text())
        self.model, _ = load_bound_model(spec)
        self.input_names = [name for name, _, _ in self.model.inputs]

    def execute(self, requests: list) -> list:
        inputs = [{name: np.from_dlpack(pb_utils.get_input_tensor_by_name(request, name))
                   for name in self.input_names} for request in requests]
        responses = []
        for answer in run_requests(self.model, inputs):
            if isinstance(answer, Exception):
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(answer))))
            else:
                responses.append(pb_utils.InferenceResponse(output_tensors=[
                    pb_utils.Tensor.from_dlpack(name, torch.from_numpy(np.ascontiguousarray(value)))
                    for name, value in answer.items()]))
        return responses
