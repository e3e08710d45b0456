"""What `core serve` serves, in either input mode, and how a batch of Triton requests runs through it.

- `ModelSpec`: what each model instance loads (model file, mode, runtime, threshold, caps), written as JSON beside the
  model's config so every instance, a process of its own, loads exactly what `core serve` checked;
- `BoundModel`: a batched inference function (named input batches in, named output batches out) with its tensors;
  `tensors_model` runs the network alone (`input_0` -> `scores`, `boxes`, as NVIDIA's container serves the
  `export-triton` repository), `core.serve.frames.frames_model` the whole detector (BGR frames in, detections out);
- `run_requests`: one execution of the dynamic batcher's requests: those whose tensors have the same shape are
  concatenated into one batch (frames of one size), run at once, and the outputs are cut back per request.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.serve.names import DEFAULT_INPUT, FRAMES_BACKENDS, INPUT_MODES, NETWORK_BACKENDS

log = logging.getLogger(__name__)
SPEC_FILE = "eds-model.json"  # beside the model's config.pbtxt
TensorSpec = tuple[str, type, tuple[int, ...]]  # name, NumPy dtype, dims of one request without the batch axis
Tensors = dict[str, np.ndarray]


@dataclass(frozen=True)
class BoundModel:
    """A batched inference function, its tensors, and a line saying what runs it."""

    infer: Callable[..., Tensors]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    description: str


@dataclass(frozen=True)
class ModelSpec:
    """What every instance of the served model loads."""

    weights: str
    labels: str
    input: str = DEFAULT_INPUT
    backend: str = "torch"
    device: str = "auto"
    precision: str = "auto"
    score_threshold: float | None = None  # frames mode: the lowest score returned (None: the detector's default)
    threads: int | None = None  # CPU threads of each instance's runtime (None: the runtime's default)
    max_pixels: int = 3840 * 2160  # frames mode: larger frames are refused
    warmup_batch_sizes: tuple[int, ...] = field(default=(1,))  # torch on CUDA: batch sizes captured at load

    def check(self) -> ModelSpec:
        if self.input not in INPUT_MODES:
            raise UserError(f"--input must be one of {', '.join(INPUT_MODES)}, got {self.input!r}")
        if self.input == "tensors" and self.backend not in NETWORK_BACKENDS:
            raise UserError(f"--input tensors runs the network with {' or '.join(NETWORK_BACKENDS)}; {self.backend} "
                            "serves --input frames")
        if self.backend not in FRAMES_BACKENDS:
            raise UserError(f"--input frames runs the detector with {', '.join(FRAMES_BACKENDS)}, not {self.backend}")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"--threads must be at least 1, got {self.threads}")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        values = json.loads(text)
        values["warmup_batch_sizes"] = tuple(values["warmup_batch_sizes"])
        return cls(**values).check()


def tensors_model(network) -> BoundModel:
    """`network` (a `core.serve.network.ServedNetwork`) as the tensors-mode model: preprocessed input in, raw scores
    and boxes out."""
    from core.model.onnx_export import INPUT_NAME
    from core.model.triton_repository import INPUT_DIMS, output_dims

    def infer(**inputs: np.ndarray) -> Tensors:
        scores, boxes = network.run(np.ascontiguousarray(inputs[INPUT_NAME], dtype=np.float32))
        return {"scores": scores, "boxes": boxes}

    outputs = tuple((name, np.float32, dims) for name, dims in output_dims(len(network.class_names)).items())
    return BoundModel(infer, ((INPUT_NAME, np.float32, INPUT_DIMS),), outputs,
                      f"network {network.backend} {network.precision} on {network.device}")


def load_bound_model(spec: ModelSpec) -> tuple[BoundModel, dict]:
    """The model of `spec`, and what really runs it (backend, device, precision; the threshold in frames mode)."""
    spec.check()
    if spec.input == "tensors":
        from core.serve.network import load_network

        network = load_network(Path(spec.weights), Path(spec.labels), backend=spec.backend, device=spec.device,
                               precision=spec.precision, threads=spec.threads)
        return tensors_model(network), {"backend": network.backend, "device": network.device,
                                        "precision": network.precision}
    from core.detect import DetectorSpec, load_detector
    from core.serve.frames import frames_model

    options = {} if spec.score_threshold is None else {"score_threshold": spec.score_threshold}
    detector = load_detector(DetectorSpec(Path(spec.weights), Path(spec.labels), backend=spec.backend,
                                          device=spec.device, precision=spec.precision, threads=spec.threads,
                                          warmup_batch_sizes=spec.warmup_batch_sizes, **options))
    return frames_model(detector, spec.max_pixels), {
        "backend": detector.backend, "device": detector.device, "precision": detector.precision,
        "score_threshold": detector.score_threshold}


def _shape_key(request: Tensors) -> tuple:
    return tuple((name, value.shape[1:]) for name, value in sorted(request.items()))


def run_requests(model: BoundModel, requests: Sequence[Tensors]) -> list[Tensors | Exception]:
    """Run one execution's requests (each a dict of input batches) through `model`, one call per input shape;
    per request its outputs, or the exception its group raised (the other groups still answer)."""
    answers: list[Tensors | Exception] = [UserError("not run")] * len(requests)
    groups: dict[tuple, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(_shape_key(request), []).append(index)
    for indices in groups.values():
        sizes = [len(next(iter(requests[index].values()))) for index in indices]
        try:
            batch = {name: np.concatenate([requests[index][name] for index in indices])
                     for name in requests[indices[0]]}
            outputs = model.infer(**batch)
        except Exception as error:  # a bad batch fails its requests, not the server
            if not isinstance(error, UserError):
                log.exception("inference failed")
            for index in indices:
                answers[index] = error
            continue
        bounds = np.cumsum([0, *sizes])
        for index, start, end in zip(indices, bounds[:-1], bounds[1:]):
            answers[index] = {name: value[start:end] for name, value in outputs.items()}
    return answers
