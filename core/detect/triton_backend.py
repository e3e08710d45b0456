"""Triton backend: the network runs on a Triton Inference Server (ours, `core serve`, or NVIDIA's container serving
the `export-triton` repository); resizing, normalization, decoding and NMS run here with the shared functions.

Every detector of the process that talks to the same server shares one gRPC client (one channel), so a dozen live
pipelines are a dozen concurrent requests on one connection, which Triton's dynamic batcher groups into batches.
A call that cannot reach the server within `timeout_s` raises a one-line `UserError` ("inference server unreachable
at grpc://..."); nothing is cached about the failure, so the next call tries again and works once the server is back.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import torch

from core.detect.base import Detections, DetectorSpec
from core.detect.preprocess import normalize_numpy
from core.detect.staged import detect_in_stages
from core.errors import BackendUnavailable, UserError
from core.model import read_labels
from core.model.onnx_export import INPUT_NAME, OUTPUT_NAMES

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT_S = 1.0
UNREACHABLE_CODES = frozenset({"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED"})
MAX_MESSAGE_BYTES = 2**31 - 1  # a batch of 32 preprocessed frames is 35 MB; gRPC's default limit is 4 MB
RECONNECT_BACKOFF_MS = 500  # retry a lost server every half second, not after gRPC's default of up to 2 minutes
PRECISION_PARAMETER = "precision"  # written by `export-triton` into config.pbtxt

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def parse_triton_url(url: str | None) -> str:
    """`grpc://HOST:PORT` -> "HOST:PORT" (the gRPC target); anything else is a one-line UserError."""
    if not url:
        raise UserError("the triton backend needs the inference server address, grpc://HOST:PORT (on the command "
                        "line: --triton-url grpc://HOST:PORT)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        port, parts = None, None
    if (parts is None or parts.scheme != "grpc" or not parts.hostname or port is None or not 1 <= port <= 65535
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username):
        raise UserError(f"triton url must be grpc://HOST:PORT with a port of 1..65535, got {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


def _tritonclient():
    try:
        import tritonclient.grpc as grpc_client
    except ImportError as error:
        raise BackendUnavailable(f"the triton backend needs tritonclient[grpc] ({error})") from None
    return grpc_client


def shared_client(target: str) -> Any:
    """The one `tritonclient.grpc.InferenceServerClient` of this process for `target` (created on first use)."""
    with _clients_lock:
        client = _clients.get(target)
        if client is None:
            grpc_client = _tritonclient()
            client = grpc_client.InferenceServerClient(target, channel_args=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
                ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
                ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
            ])
            _clients[target] = client
        return client


def server_error(url: str, error: Exception) -> UserError:
    """A tritonclient/gRPC exception as the one-line message the CLI prints and the health panel shows."""
    status = str(getattr(error, "status", lambda: "")() or "")
    reason = str(getattr(error, "message", lambda: "")() or error).splitlines()[0][:200]
    if status in UNREACHABLE_CODES:
        return UserError(f"inference server unreachable at {url}: {reason}")
    return UserError(f"inference server at {url} failed: {reason}")


class TritonDetector:
    backend = "triton"

    def __init__(self, spec: DetectorSpec, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = spec.triton_url or ""
        self._target = parse_triton_url(spec.triton_url)
        self._grpc = _tritonclient()
        self.model = spec.triton_model
        self.timeout_s = timeout_s
        self.class_names = read_labels(spec.labels)
        self.score_threshold = spec.score_threshold
        self.name = f"{self.model}@{self._target}"
        self.device = "remote"
        self._client = shared_client(self._target)
        self.precision = self._check_model()

    def _call(self, method: str, *args, **kwargs) -> Any:
        try:
            return getattr(self._client, method)(*args, client_timeout=self.timeout_s, **kwargs)
        except self._grpc.InferenceServerException as error:
            raise server_error(self.url, error) from None

    def _check_model(self) -> str:
        """The served model's precision ("unknown" unless its config says); refuses a model that is not our graph
        or whose class count differs from labels.txt."""
        metadata = self._call("get_model_metadata", self.model)
        inputs = [tensor.name for tensor in metadata.inputs]
        outputs = {tensor.name: list(tensor.shape) for tensor in metadata.outputs}
        if inputs != [INPUT_NAME] or sorted(outputs) != sorted(OUTPUT_NAMES):
            raise UserError(f"model {self.model!r} at {self.url} is not the SSD graph: inputs {inputs}, outputs "
                            f"{sorted(outputs)} (expected [{INPUT_NAME}] -> {list(OUTPUT_NAMES)})")
        classes = outputs["scores"][-1]
        if classes != len(self.class_names):
            raise UserError(f"model {self.model!r} at {self.url} outputs {classes} classes but labels.txt lists "
                            f"{len(self.class_names)}")
        parameters = self._call("get_model_config", self.model).config.parameters
        return parameters[PRECISION_PARAMETER].string_value if PRECISION_PARAMETER in parameters else "unknown"

    def infer(self, resized: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (scores, boxes) for a resized (N,300,300,3) uint8 BGR batch, computed by the server."""
        batch = normalize_numpy(resized)
        request = self._grpc.InferInput(INPUT_NAME, list(batch.shape), "FP32")
        request.set_data_from_numpy(batch)
        outputs = [self._grpc.InferRequestedOutput(name) for name in OUTPUT_NAMES]
        result = self._call("infer", self.model, [request], outputs=outputs)
        scores, boxes = (result.as_numpy(name) for name in OUTPUT_NAMES)
        return torch.tensor(scores), torch.tensor(boxes)  # copies: tritonclient's arrays are read-only views

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return detect_in_stages(self.infer, frames, self.score_threshold)

    def close(self) -> None:
        """Nothing to release: the client is shared by every detector of the process for this server."""
