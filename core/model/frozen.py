"""The network in the form a CPU runs fastest: traced on an example input, frozen and optimized for inference
(BatchNorm folded into the convolutions, oneDNN convolutions fused with their ReLU). The torch backend runs it on
the CPU; `benchmarks.cpu_torch_variants` compares it with the eager network."""
from __future__ import annotations

import warnings

import torch


def freeze_for_cpu(module: torch.nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """`module` traced on `example`, frozen and optimized for inference on the CPU (batch size stays free)."""
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.compile, and says so
        return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(module.eval(), example)))
