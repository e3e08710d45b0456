"""The one choice of ONNX Runtime execution providers: CUDA first where asked for and present, never a silent CPU
run of a cuda request."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.detect import execution_providers as providers
from core.errors import BackendUnavailable

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def _runtime(monkeypatch: pytest.MonkeyPatch, available: list[str]) -> None:
    fake = SimpleNamespace(get_available_providers=lambda: available)
    monkeypatch.setattr(providers, "import_onnxruntime", lambda: fake)


@pytest.mark.parametrize(("available", "device", "expected"), [
    ([CUDA, CPU], "auto", [CUDA, CPU]),
    ([CUDA, CPU], "cuda", [CUDA, CPU]),
    ([CUDA, CPU], "cpu", [CPU]),
    ([CPU], "auto", [CPU]),
    ([CPU], "cpu", [CPU]),
])
def test_providers_for_each_device(monkeypatch, available, device, expected):
    _runtime(monkeypatch, available)
    assert providers.execution_providers(device) == expected


def test_cuda_without_the_cuda_provider_is_refused(monkeypatch):
    _runtime(monkeypatch, [CPU])
    with pytest.raises(BackendUnavailable, match="no CUDAExecutionProvider"):
        providers.execution_providers("cuda")


def test_this_machines_runtime_answers():
    assert providers.execution_providers("cpu") == [CPU]
