"""Where ONNX Runtime runs a model: the execution providers for a requested device, chosen here only (the
onnxruntime detector backend and the Triton server's network both ask), and the runtime's lazy import."""
from __future__ import annotations

from types import ModuleType

from core.errors import BackendUnavailable

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def import_onnxruntime() -> ModuleType:
    """The onnxruntime module, or a one-line BackendUnavailable where it is not installed."""
    try:
        import onnxruntime
    except ImportError as error:
        raise BackendUnavailable(f"onnxruntime is not installed ({error})") from None
    return onnxruntime


def execution_providers(device: str) -> list[str]:
    """CUDA (then CPU) for "auto" or "cuda" where ONNX Runtime has the CUDA provider, else the CPU alone; "cuda"
    without the CUDA provider is refused rather than run on the CPU."""
    available = import_onnxruntime().get_available_providers()
    if device == "cuda" and CUDA_PROVIDER not in available:
        raise BackendUnavailable(f"device cuda requested but onnxruntime has no {CUDA_PROVIDER} here")
    if device in ("auto", "cuda") and CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    return [CPU_PROVIDER]
