"""User-facing error family: one-line messages; the CLI prints them and exits with code 2."""
from __future__ import annotations


class UserError(Exception):
    """A mistake in user input (a bad file, a wrong option); its message is one line and needs no traceback."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class CheckpointError(UserError):
    """A weights file or labels file that cannot be loaded as a pytorch-ssd model."""


class BackendUnavailable(UserError):
    """A detector backend whose runtime (onnxruntime, TensorRT, CUDA) is not installed or not usable here."""
