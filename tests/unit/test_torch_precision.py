"""Torch backend precisions: dtype and memory-format selection, refusals, and (on a GPU) FP16/BF16 and CUDA graphs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.detect.base import DetectorSpec
from core.detect.preprocess import preprocess_batch
from core.detect.torch_backend import TorchDetector
from core.detect.torch_device import memory_format, select_dtype
from core.errors import BackendUnavailable, UserError

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to PyTorch here")


def test_dtype_selection_per_precision_and_device() -> None:
    assert select_dtype("fp32", "cpu", bf16_supported=False) is torch.float32
    assert select_dtype("fp16", "cuda", bf16_supported=False) is torch.float16
    assert select_dtype("bf16", "cuda", bf16_supported=True) is torch.bfloat16


@pytest.mark.parametrize(("precision", "device", "bf16", "message"), [
    ("fp16", "cpu", True, "fp16 with the torch backend needs a CUDA GPU"),
    ("bf16", "cpu", True, "bf16 with the torch backend needs a CUDA GPU"),
    ("bf16", "cuda", False, "does not support bf16"),
    ("int8", "cuda", True, "runs fp32, fp16, bf16, not int8"),
])
def test_a_precision_that_cannot_run_is_refused(precision: str, device: str, bf16: bool, message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        select_dtype(precision, device, bf16_supported=bf16)
    assert "\n" not in str(caught.value)


def test_channels_last_on_cuda_only() -> None:
    assert memory_format("cuda") is torch.channels_last
    assert memory_format("cpu") is torch.contiguous_format


def _spec(model: tuple[Path, Path], **options: object) -> DetectorSpec:
    return DetectorSpec(model[0], model[1], backend="torch", **options)


def test_the_detector_refuses_half_precision_and_graphs_on_the_cpu(random_model: tuple[Path, Path]) -> None:
    for precision in ("fp16", "bf16"):
        with pytest.raises(BackendUnavailable, match="needs a CUDA GPU"):
            TorchDetector(_spec(random_model, device="cpu", precision=precision))
    with pytest.raises(UserError, match="CUDA graphs need the cuda device"):
        TorchDetector(_spec(random_model, device="cpu", cuda_graph=True))
    detector = TorchDetector(_spec(random_model, device="cpu"))
    assert (detector.precision, detector.device) == ("fp32", "cpu")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precisions_agree_with_fp32_on_the_gpu(precision: str, random_model: tuple[Path, Path],
                                                    frames: list[np.ndarray]) -> None:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU does not support bf16")
    resized, _ = preprocess_batch(frames)
    reference = TorchDetector(_spec(random_model, device="cuda")).infer(resized)[0].float().cpu()
    half = TorchDetector(_spec(random_model, device="cuda", precision=precision))
    scores = half.infer(resized)[0]
    assert scores.dtype == (torch.float16 if precision == "fp16" else torch.bfloat16)
    torch.testing.assert_close(scores.float().cpu(), reference, atol=0.05 if precision == "bf16" else 0.01, rtol=0)


@pytest.mark.gpu
@needs_cuda
def test_cuda_graph_replays_match_eager_per_batch_size(random_model: tuple[Path, Path],
                                                       frames: list[np.ndarray]) -> None:
    resized, _ = preprocess_batch(frames)
    eager = TorchDetector(_spec(random_model, device="cuda", precision="fp16", cuda_graph=False))
    graphed = TorchDetector(_spec(random_model, device="cuda", precision="fp16", cuda_graph=True))
    for batch in (resized[:1], resized, resized[1:2], resized[::-1].copy()):
        torch.testing.assert_close(graphed.infer(batch)[0], eager.infer(batch)[0], atol=2e-3, rtol=0)
    assert (graphed._run.captures, graphed._run.replays) == (2, 4)
    assert len(graphed.detect(frames[:2])) == 2
