"""PyTorch backend: the pytorch-ssd network in eval mode on CPU or CUDA (FP16 on CUDA when asked)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core.detect.base import Detections, DetectorSpec
from core.detect.staged import detect_in_stages
from core.errors import BackendUnavailable, UserError
from core.model import SSDInference, load_model
from core.model.config import IMAGE_MEAN, IMAGE_STD


def resolve_torch_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("device cuda requested but PyTorch sees no CUDA GPU here")
    if requested not in ("cpu", "cuda"):
        raise UserError(f"unknown device {requested!r} (use auto, cpu or cuda)")
    return requested


class TorchDetector:
    backend = "torch"

    def __init__(self, spec: DetectorSpec) -> None:
        if spec.weights.suffix.lower() not in (".pth", ".pt"):
            raise UserError(f"the torch backend loads pytorch-ssd .pth checkpoints, not {spec.weights.name}")
        if spec.precision not in ("fp32", "fp16"):
            raise UserError(f"the torch backend runs fp32 or fp16, not {spec.precision}")
        self.device = resolve_torch_device(spec.device)
        if spec.precision == "fp16" and self.device != "cuda":
            raise BackendUnavailable("fp16 with the torch backend needs a CUDA GPU")
        if spec.threads:
            torch.set_num_threads(spec.threads)
        loaded = load_model(spec.weights, spec.labels)
        self.class_names = loaded.class_names
        self.precision = spec.precision
        self.score_threshold = spec.score_threshold
        self.name = spec.weights.stem
        self._dtype = torch.float16 if spec.precision == "fp16" else torch.float32
        self._model = SSDInference(loaded.network).to(self.device, self._dtype).eval()
        if self.device == "cuda":
            self._model = self._model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def infer(self, resized: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (scores, boxes) for a resized (N,300,300,3) uint8 BGR batch; normalization runs on the device."""
        pixels = torch.from_numpy(resized).to(self.device, non_blocking=True)
        images = pixels.flip(-1).permute(0, 3, 1, 2).to(self._dtype)
        images = (images - IMAGE_MEAN) / IMAGE_STD
        memory_format = torch.channels_last if self.device == "cuda" else torch.contiguous_format
        return self._model(images.contiguous(memory_format=memory_format))

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return detect_in_stages(self.infer, frames, self.score_threshold)

    def close(self) -> None:
        self._model = None  # type: ignore[assignment]
        if self.device == "cuda":
            torch.cuda.empty_cache()
