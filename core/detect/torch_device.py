"""Where and in what dtype the torch network runs: the device a request resolves to, the dtype of a precision on it
(or a one-line refusal) and its memory layout; one rule for the torch backend and the served network."""
from __future__ import annotations

import torch

from core.errors import BackendUnavailable, UserError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


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


def bf16_supported(device: str) -> bool:
    return device == "cuda" and torch.cuda.is_bf16_supported()
