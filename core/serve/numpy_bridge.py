"""Let PyTriton 0.7's Python-backend stub exchange tensors with NumPy 2 (the project's NumPy) through DLPack.

The stub that `nvidia-pytriton==0.7.0` ships converts tensors with a pybind11 built for NumPy 1: under NumPy 2 it
reads inputs wrong (`as_numpy()` returned all ones for [1..8]) and writes outputs of 0 bytes ("output tensor shape
does not match size of output"). DLPack does not go through that NumPy binding, so the two conversions in the proxy
model PyTriton copies into its model store are switched to `numpy.from_dlpack` / `Tensor.from_dlpack`
(both measured correct with the stub). Each replacement must match exactly once, so another PyTriton fails loudly
instead of serving wrong numbers.
"""
from __future__ import annotations

import functools
from pathlib import Path

PROXY_MODEL_FILE = "model.py"
REPLACEMENTS = (
    ("request[input_name] = input_tensor.as_numpy()",
     "request[input_name] = __import__('numpy').from_dlpack(input_tensor)"),
    ("pb_utils.Tensor(name, value)",
     "pb_utils.Tensor.from_dlpack(name, __import__('numpy').ascontiguousarray(value))"),
)


class ProxyMismatch(RuntimeError):
    """The PyTriton proxy is not the one this bridge was written for."""


def bridge_text(text: str) -> str:
    """The proxy model's source with the NumPy conversions replaced by DLPack ones."""
    for old, new in REPLACEMENTS:
        if text.count(old) != 1:
            raise ProxyMismatch(f"PyTriton's proxy model has {text.count(old)} copies of {old!r}, expected 1 "
                                f"(nvidia-pytriton==0.7.0 is the supported version)")
        text = text.replace(old, new)
    return text


def bridge_model_store(model_store: Path, model_name: str, model_version: int) -> None:
    """Rewrite the proxy model PyTriton wrote into a local model store."""
    path = Path(model_store) / model_name / str(model_version) / PROXY_MODEL_FILE
    path.write_text(bridge_text(path.read_text()))


def bridge_model_files(files: dict[str, bytes], model_version: int) -> dict[str, bytes]:
    """The files PyTriton uploads with its load request, with the proxy model rewritten."""
    key = f"file:{model_version}/{PROXY_MODEL_FILE}"
    return {**files, key: bridge_text(files[key].decode("utf-8")).encode("utf-8")}


@functools.cache
def install() -> None:
    """Make every model PyTriton loads in this process use the DLPack conversions (once per process): PyTriton
    either uploads the proxy files with the load request or writes them into a local model store."""
    from pytriton.models.model import Model

    generate, upload = Model.generate_model, Model.get_proxy_model_files

    @functools.wraps(generate)
    def generate_bridged(self, model_repository: Path) -> None:
        generate(self, model_repository)
        bridge_model_store(model_repository, self.model_name, self.model_version)

    @functools.wraps(upload)
    def upload_bridged(self) -> dict[str, bytes]:
        return bridge_model_files(upload(self), self.model_version)

    Model.generate_model = generate_bridged
    Model.get_proxy_model_files = upload_bridged
