"""PyTorch backend: the pytorch-ssd network in eval mode on CPU (FP32) or CUDA (FP32, FP16 or BF16, channels-last).

On CUDA the whole network step (BGR->RGB, normalization, network) can be captured as one CUDA graph per batch size
and replayed (`DetectorSpec.cuda_graph`), which removes the per-kernel launch cost that dominates at small batches.
A precision that cannot really run here is refused: half precisions on a CPU would be emulated (slower than FP32,
so never what was meant), and BF16 needs a GPU that supports it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.detect.base import Detections, DetectorSpec
from core.detect.staged import detect_in_stages
from core.errors import BackendUnavailable, UserError
from core.model import SSDInference, load_model
from core.model.config import IMAGE_MEAN, IMAGE_STD

log = logging.getLogger(__name__)
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
WARMUP_CALLS = 3  # eager calls before a capture: cuDNN picks its kernels and the allocator settles

Outputs = tuple[torch.Tensor, torch.Tensor]


def resolve_torch_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("device cuda requested but PyTorch sees no CUDA GPU here")
    if requested not in ("cpu", "cuda"):
        raise UserError(f"unknown device {requested!r} (use auto, cpu or cuda)")
    return requested


def select_dtype(precision: str, device: str, *, bf16_supported: bool) -> torch.dtype:
    """The tensor dtype that runs `precision` on `device`, or a one-line refusal."""
    if precision not in DTYPES:
        raise UserError(f"the torch backend runs {', '.join(DTYPES)}, not {precision}")
    if precision != "fp32" and device != "cuda":
        raise BackendUnavailable(f"{precision} with the torch backend needs a CUDA GPU (a CPU would emulate it, "
                                 f"slower than fp32)")
    if precision == "bf16" and not bf16_supported:
        raise BackendUnavailable("this GPU does not support bf16; use fp16")
    return DTYPES[precision]


def memory_format(device: str) -> torch.memory_format:
    """Channels-last on CUDA (tensor-core convolutions want NHWC); the default layout on the CPU."""
    return torch.channels_last if device == "cuda" else torch.contiguous_format


def _bf16_supported(device: str) -> bool:
    return device == "cuda" and torch.cuda.is_bf16_supported()


class CudaGraphs:
    """Runs `step` through one captured CUDA graph per batch size: copy in, replay, copy the outputs out."""

    def __init__(self, step: Callable[[torch.Tensor], Outputs]) -> None:
        self._step = step
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, Outputs]] = {}
        self.captures = 0
        self.replays = 0

    def _capture(self, pixels: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, Outputs]:
        static_input = pixels.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_CALLS):
                self._step(static_input)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_outputs = self._step(static_input)
        self.captures += 1
        log.debug("captured a CUDA graph for batch %d", len(pixels))
        return graph, static_input, static_outputs

    def __call__(self, pixels: torch.Tensor) -> Outputs:
        if len(pixels) not in self._graphs:
            self._graphs[len(pixels)] = self._capture(pixels)
        graph, static_input, (scores, boxes) = self._graphs[len(pixels)]
        static_input.copy_(pixels)
        graph.replay()
        self.replays += 1
        return scores.clone(), boxes.clone()


class TorchDetector:
    backend = "torch"

    def __init__(self, spec: DetectorSpec) -> None:
        if spec.weights.suffix.lower() not in (".pth", ".pt"):
            raise UserError(f"the torch backend loads pytorch-ssd .pth checkpoints, not {spec.weights.name}")
        self.device = resolve_torch_device(spec.device)
        precision = "fp32" if spec.precision == "auto" else spec.precision
        self._dtype = select_dtype(precision, self.device, bf16_supported=_bf16_supported(self.device))
        if spec.cuda_graph and self.device != "cuda":
            raise UserError("CUDA graphs need the cuda device")
        if spec.threads:
            torch.set_num_threads(spec.threads)
        loaded = load_model(spec.weights, spec.labels)
        self.class_names = loaded.class_names
        self.precision = precision
        self.score_threshold = spec.score_threshold
        self.name = spec.weights.stem
        self._format = memory_format(self.device)
        self._model = SSDInference(loaded.network).to(self.device, self._dtype).eval()
        self._model = self._model.to(memory_format=self._format)
        self._run = CudaGraphs(self._step) if spec.cuda_graph else self._step

    def _step(self, pixels: torch.Tensor) -> Outputs:
        """(N,300,300,3) uint8 BGR on the device -> raw (scores, boxes): colour swap, (x-127)/128, network."""
        images = pixels.flip(-1).permute(0, 3, 1, 2).to(self._dtype)
        images = (images - IMAGE_MEAN) / IMAGE_STD
        return self._model(images.contiguous(memory_format=self._format))

    @torch.inference_mode()
    def infer(self, resized: np.ndarray) -> Outputs:
        """Raw (scores, boxes) for a resized (N,300,300,3) uint8 BGR batch; normalization runs on the device."""
        return self._run(torch.from_numpy(resized).to(self.device, non_blocking=True))

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return detect_in_stages(self.infer, frames, self.score_threshold)

    def close(self) -> None:
        self._model = self._run = None  # type: ignore[assignment]
        if self.device == "cuda":
            torch.cuda.empty_cache()
