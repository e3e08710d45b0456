"""A Triton Inference Server (the real `tritonserver`, started by PyTriton) with one model bound, in either mode:

- tensors (`tensors_model`): `input_0`, preprocessed FP32 [3,300,300] per request, returns `scores` [3000,C] and
  `boxes` [3000,4], exactly the exported ONNX graph (what NVIDIA's container serves from `export-triton`);
- frames (`core.serve.frames.frames_model`): BGR uint8 frames in, detections out.

Triton's dynamic batcher groups concurrent requests into one call. Health (`/v2/health/ready`) and Prometheus metrics
(`/metrics`) are on Triton's usual endpoints.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.model.onnx_export import INPUT_NAME
from core.model.triton_repository import (DEFAULT_MAX_BATCH, DEFAULT_MODEL_NAME, DEFAULT_QUEUE_DELAY_US, INPUT_DIMS,
                                          check_model_name, output_dims)
from core.serve import numpy_bridge
from core.serve.libpython import put_libpython_first
from core.serve.network import ServedNetwork

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
TensorSpec = tuple[str, type, tuple[int, ...]]  # name, NumPy dtype, dims of one request without the batch axis


@dataclass(frozen=True)
class BoundModel:
    """What a server binds as its model: a batched inference function (named input batches in, named output batches
    out, as PyTriton's @batch calls it), its tensors, and a line saying what runs it."""

    infer: Callable[..., dict[str, np.ndarray]]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    description: str


@dataclass(frozen=True)
class ServerOptions:
    """Ports, bind address and batching of one server."""

    grpc_port: int = 8001
    http_port: int = 8000
    metrics_port: int = 8002
    address: str = "0.0.0.0"
    model_name: str = DEFAULT_MODEL_NAME
    max_batch: int = DEFAULT_MAX_BATCH
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US
    log_file: Path | None = None  # tritonserver's own log (None: PyTriton prints it to stdout)

    def check(self) -> ServerOptions:
        ports = {"grpc": self.grpc_port, "http": self.http_port, "metrics": self.metrics_port}
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise UserError(f"--{name}-port must be 1..65535, got {port}")
        if len(set(ports.values())) != len(ports):
            raise UserError(f"the grpc, http and metrics ports must differ, got {sorted(ports.values())}")
        if self.max_batch < 1:
            raise UserError(f"--max-batch must be at least 1, got {self.max_batch}")
        if self.queue_delay_us < 0:
            raise UserError(f"--queue-delay-us must not be negative, got {self.queue_delay_us}")
        check_model_name(self.model_name)
        return self

    def endpoints(self, host: str = LOOPBACK) -> dict[str, str]:
        return {"grpc": f"grpc://{host}:{self.grpc_port}", "http": f"http://{host}:{self.http_port}",
                "metrics": f"http://{host}:{self.metrics_port}/metrics"}


def tensors_model(network: ServedNetwork) -> BoundModel:
    """`network` as the tensors-mode model: preprocessed input in, raw scores and boxes out."""
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        scores, boxes = network.run(np.ascontiguousarray(inputs[INPUT_NAME], dtype=np.float32))
        return {"scores": scores, "boxes": boxes}

    outputs = tuple((name, np.float32, dims) for name, dims in output_dims(len(network.class_names)).items())
    return BoundModel(infer, ((INPUT_NAME, np.float32, INPUT_DIMS),), outputs,
                      f"network {network.backend} {network.precision} on {network.device}")


@contextmanager
def triton_server(model: BoundModel, options: ServerOptions) -> Iterator[object]:
    """A started server with `model` bound (yields PyTriton's `Triton`; `serve()` on it blocks until Ctrl-C)."""
    options.check()
    put_libpython_first()  # before the server process starts: it inherits this environment
    numpy_bridge.install()
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    config = TritonConfig(grpc_port=options.grpc_port, http_port=options.http_port,
                          metrics_port=options.metrics_port, grpc_address=options.address,
                          http_address=options.address, exit_on_error=True, log_file=options.log_file)
    with Triton(config=config) as triton:
        triton.bind(
            model_name=options.model_name,
            infer_func=batch(model.infer),
            inputs=[Tensor(name=name, dtype=dtype, shape=dims) for name, dtype, dims in model.inputs],
            outputs=[Tensor(name=name, dtype=dtype, shape=dims) for name, dtype, dims in model.outputs],
            config=ModelConfig(batching=True, max_batch_size=options.max_batch,
                               batcher=DynamicBatcher(max_queue_delay_microseconds=options.queue_delay_us)),
            strict=False,
        )
        log.info("serving %s (%s) at %s", options.model_name, model.description, options.endpoints())
        yield triton
