"""Triton backend: detection on a Triton Inference Server, in whichever of two modes the served model speaks.

- `input_0` (`core serve --input tensors`, or NVIDIA's container serving the `export-triton` repository): the server
  runs the network only; resizing, normalization, decoding and NMS run here with the shared functions.
- `frames` (`core serve --input frames`): the BGR uint8 frames go to the server as they are, one request per frame
  size, and the server runs the whole detector. Its outputs per frame are `boxes` FP32 [M,4] (pixel x1,y1,x2,y2),
  `scores` FP32 [M], `labels` INT32 [M] and `count` INT32 [1]: frames batched together are padded to the same M
  (M >= 1; padding rows: zero box and score, label -1) and `count` says how many rows are real. `pad_detections` and
  `unpad_detections` below are that contract's two ends. The server's own score threshold applies first; this
  client's `score_threshold` filters on top of it (so it can raise the threshold, not lower it).

Every detector loaded with the same `RemoteClients` (`core.detect.remote`: the live service's, a benchmark
process's) that talks to the same server shares one gRPC client (one channel), so a dozen live pipelines are a dozen
concurrent requests on one connection, which Triton's dynamic batcher groups into batches.
A call that cannot reach the server within `timeout_s` raises a one-line `UserError` ("inference server unreachable
at grpc://..."); nothing is cached about the failure, so the next call tries again and works once the server is back.
With a server on this host's loopback (`grpc://127.0.0.1:PORT`), the input tensors go through a system
shared-memory region registered with the server instead of inside the gRPC message (`core.detect.triton_shm`);
where the server cannot map it, the detector falls back to gRPC.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from core.config import parse_triton_url
from core.detect.base import Detections, DetectorSpec
from core.detect.frame_outputs import unpad_detections
from core.detect.preprocess import check_frame, normalize_numpy
from core.detect.remote import RemoteClients
from core.detect.staged import detect_in_stages
from core.detect.triton_shm import SharedInput, SharedMemoryRefused, missing_region, same_host
from core.errors import BackendUnavailable, UserError
from core.model import read_labels
from core.model.onnx_names import INPUT_NAME, OUTPUT_NAMES
from core.serve.names import FRAME_OUTPUTS, FRAMES_INPUT, PRECISION_PARAMETER

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT_S = 1.0
UNREACHABLE_CODES = frozenset({"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED"})
MAX_MESSAGE_BYTES = 2**31 - 1  # a batch of 32 preprocessed frames is 35 MB; gRPC's default limit is 4 MB
RECONNECT_BACKOFF_MS = 500  # retry a lost server every half second, not after gRPC's default of up to 2 minutes
TRACEBACK_HEAD = "Traceback (most recent call last)"
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: (.+)$", re.MULTILINE)  # "module.SomeError: what went wrong"

def _tritonclient():
    try:
        import tritonclient.grpc as grpc_client
    except ImportError as error:
        raise BackendUnavailable(f"the triton backend needs tritonclient[grpc] ({error})") from None
    return grpc_client


def connect(target: str) -> Any:
    """A `tritonclient.grpc.InferenceServerClient` of `target` (HOST:PORT), with room for large batches and a lost
    server retried every RECONNECT_BACKOFF_MS."""
    return _tritonclient().InferenceServerClient(target, channel_args=[
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
        ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS),
    ])


def _reason(message: str) -> str:
    """The line of a server's error message that says what went wrong: its first line or, for a message holding a
    Python traceback (a model served by PyTriton reports its exception that way), the last exception's message."""
    raised = EXCEPTION_LINE.findall(message) if TRACEBACK_HEAD in message else []
    return raised[-1] if raised else (message.strip().splitlines() or [""])[0]


def _shared_memory():
    import tritonclient.utils.shared_memory as shared_memory

    return shared_memory


def server_error(url: str, error: Exception) -> UserError:
    """A tritonclient/gRPC exception as the one-line message the CLI prints and the health panel shows."""
    status = str(getattr(error, "status", lambda: "")() or "")
    reason = _reason(str(getattr(error, "message", lambda: "")() or error))[:200]
    if status in UNREACHABLE_CODES:
        return UserError(f"inference server unreachable at {url}: {reason}")
    return UserError(f"inference server at {url} failed: {reason}")


class TritonDetector:
    backend = "triton"

    def __init__(self, spec: DetectorSpec, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 clients: RemoteClients | None = None) -> None:
        """`clients`: the owner's shared connections (see the module docstring); None: a connection of its own,
        closed with this detector."""
        self.url = spec.triton_url or ""
        self._target = parse_triton_url(spec.triton_url)
        self._grpc = _tritonclient()
        self.model = spec.triton_model
        self.timeout_s = timeout_s
        self.class_names = read_labels(spec.labels)
        self.score_threshold = spec.score_threshold
        self.name = f"{self.model}@{self._target}"
        self.device = "remote"
        self._own_clients = RemoteClients() if clients is None else None
        self._client = (clients or self._own_clients).client(self._target, connect)
        self._lock = threading.Lock()  # guards the shared-memory region
        self._shared = SharedInput(self._client, _shared_memory(), self) if same_host(self._target) else None
        self.input = FRAMES_INPUT  # which mode the served model speaks: FRAMES_INPUT or INPUT_NAME
        self.max_batch = 1
        try:
            self.precision = self._check_model()
        except BaseException:
            if self._own_clients is not None:
                self._own_clients.close()
            raise
        if self.input == INPUT_NAME:  # `infer`, which core.live times stage by stage, only where the stages run here
            self.infer = self.infer_tensors

    def _call(self, method: str, *args, **kwargs) -> Any:
        try:
            return getattr(self._client, method)(*args, client_timeout=self.timeout_s, **kwargs)
        except self._grpc.InferenceServerException as error:
            raise server_error(self.url, error) from None

    @property
    def transport(self) -> str:
        """How the input tensors reach the server."""
        return "system shared memory" if self._shared is not None else "gRPC"

    def _infer(self, name: str, datatype: str, parts: Sequence[np.ndarray], outputs: Sequence[str]) -> Any:
        """One request whose input `name` is the rows `parts` (arrays of one shape), through shared memory where
        the server is on this host and maps it, else inside the gRPC message."""
        request = self._grpc.InferInput(name, [len(parts), *parts[0].shape], datatype)
        wanted = [self._grpc.InferRequestedOutput(output) for output in outputs]
        if self._shared is not None:
            with self._lock:  # one request at a time through the region
                if self._shared is not None:
                    try:
                        return self._infer_shared(request, parts, wanted)
                    except SharedMemoryRefused as refused:
                        log.warning("%s cannot use shared memory (%s); sending tensors over gRPC", self.url, refused)
                        self._shared.close(self.timeout_s)
                        self._shared = None
        request.set_data_from_numpy(np.stack(parts))
        return self._call("infer", self.model, [request], outputs=wanted)

    def _infer_shared(self, request: Any, parts: Sequence[np.ndarray], wanted: list, *, again: bool = True) -> Any:
        try:
            self._shared.put(request, parts, self.timeout_s)  # registers the region if the server lacks it
        except self._grpc.InferenceServerException as error:
            if str(error.status()) in UNREACHABLE_CODES:
                raise server_error(self.url, error) from None
            raise SharedMemoryRefused(_reason(str(error.message()))[:120]) from None
        except _shared_memory().SharedMemoryException as error:
            raise SharedMemoryRefused(str(error)[:120]) from None
        try:
            return self._client.infer(self.model, [request], outputs=wanted, client_timeout=self.timeout_s)
        except self._grpc.InferenceServerException as error:
            self._shared.registered = False  # register it again before the next request, whatever happened
            if again and missing_region(str(error.message())):  # a restarted server forgot the region
                return self._infer_shared(request, parts, wanted, again=False)
            raise server_error(self.url, error) from None

    def _check_model(self) -> str:
        """Which mode the served model speaks (sets `input` and `max_batch`) and its precision ("unknown" unless
        its config says); refuses a model that is neither, or whose class count differs from labels.txt."""
        metadata = self._call("get_model_metadata", self.model)
        inputs = [tensor.name for tensor in metadata.inputs]
        outputs = {tensor.name: list(tensor.shape) for tensor in metadata.outputs}
        if inputs == [FRAMES_INPUT] and sorted(outputs) == sorted(FRAME_OUTPUTS):
            self.input = FRAMES_INPUT  # labels are checked against labels.txt as they arrive
        elif inputs == [INPUT_NAME] and sorted(outputs) == sorted(OUTPUT_NAMES):
            self.input = INPUT_NAME
            classes = outputs["scores"][-1]
            if classes != len(self.class_names):
                raise UserError(f"model {self.model!r} at {self.url} outputs {classes} classes but labels.txt lists "
                                f"{len(self.class_names)}")
        else:
            raise UserError(f"model {self.model!r} at {self.url} is not the SSD graph: inputs {inputs}, outputs "
                            f"{sorted(outputs)} (expected [{INPUT_NAME}] -> {list(OUTPUT_NAMES)} or "
                            f"[{FRAMES_INPUT}] -> {list(FRAME_OUTPUTS)})")
        config = self._call("get_model_config", self.model).config
        self.max_batch = max(config.max_batch_size, 1)
        parameters = config.parameters
        return parameters[PRECISION_PARAMETER].string_value if PRECISION_PARAMETER in parameters else "unknown"

    def infer_tensors(self, resized: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (scores, boxes) for a resized (N,300,300,3) uint8 BGR batch, computed by the server."""
        batch = normalize_numpy(resized)
        result = self._infer(INPUT_NAME, "FP32", list(batch), OUTPUT_NAMES)
        scores, boxes = (result.as_numpy(name) for name in OUTPUT_NAMES)
        return torch.tensor(scores), torch.tensor(boxes)  # copies: tritonclient's arrays are read-only views

    def detect_frames(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detections for BGR uint8 frames of one size, computed by a frames-mode server in one request."""
        result = self._infer(FRAMES_INPUT, "UINT8", frames, FRAME_OUTPUTS)
        detections = unpad_detections({name: result.as_numpy(name) for name in FRAME_OUTPUTS})
        for found in detections:
            if len(found) and not 0 < found.labels.min() <= found.labels.max() < len(self.class_names):
                raise UserError(f"model {self.model!r} at {self.url} answered labels {found.labels.min()}.."
                                f"{found.labels.max()} but labels.txt lists {len(self.class_names)} classes "
                                f"(0 is BACKGROUND)")
        return [found.filtered(min_score=self.score_threshold) for found in detections]

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if self.input == INPUT_NAME:
            return detect_in_stages(self.infer_tensors, frames, self.score_threshold)
        for frame in frames:
            check_frame(frame)
        results: list[Detections] = [Detections.empty()] * len(frames)
        by_size: dict[tuple[int, ...], list[int]] = {}
        for index, frame in enumerate(frames):
            by_size.setdefault(frame.shape, []).append(index)
        for indices in by_size.values():  # Triton batches only frames of one size
            for start in range(0, len(indices), self.max_batch):
                chunk = indices[start:start + self.max_batch]
                found = self.detect_frames([frames[index] for index in chunk])
                for index, detections in zip(chunk, found):
                    results[index] = detections
        return results

    def close(self) -> None:
        """Release this detector's shared-memory region, and its gRPC client if it is its own (a shared one stays
        with its owner)."""
        with self._lock:
            if self._shared is not None:
                self._shared.close(self.timeout_s)
        if self._own_clients is not None:
            self._own_clients.close()
