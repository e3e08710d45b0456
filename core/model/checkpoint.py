"""Load pytorch-ssd checkpoints (`.pth` state_dicts as train_ssd.py writes them) plus their `labels.txt`, safely.

Every failure is a `CheckpointError` with one line naming what is wrong (the first mismatching keys, the class count
that disagrees with labels.txt), never a traceback.
"""
from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import CheckpointError
from core.files.atomic import atomic_path, write_text_atomic
from core.model.config import ANCHORS_PER_LOCATION, BACKGROUND
from core.model.mobilenet_ssd import MobileNetV1SSD, build_mobilenet_v1_ssd

_SHOWN_MISMATCHES = 3
_CLASS_HEAD_KEY = "classification_headers.0.weight"
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL_MARK = b"\x80"


@dataclass
class LoadedModel:
    network: MobileNetV1SSD
    class_names: list[str]
    weights_path: Path
    labels_path: Path


def read_labels(path: str | Path) -> list[str]:
    """Class names from a pytorch-ssd model folder's labels.txt: first line BACKGROUND, one class per line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(f"labels file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"cannot read labels file {path}: {error}") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) < 2:
        raise CheckpointError(f"labels file {path} needs BACKGROUND plus at least one class, found {len(names)} line(s)")
    if names[0] != BACKGROUND:
        raise CheckpointError(
            f"labels file {path} must start with {BACKGROUND} (pytorch-ssd's model labels.txt), found {names[0]!r}"
        )
    return names


def _unwrap(loaded: object) -> Mapping[str, torch.Tensor] | None:
    if isinstance(loaded, Mapping):
        for key in ("state_dict", "model_state_dict"):
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
        if loaded and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()):
            return loaded
    return None


def read_state_dict(path: str | Path) -> Mapping[str, torch.Tensor]:
    """A state_dict from disk with `torch.load(weights_only=True)`; plain or wrapped in {"state_dict": ...}."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if not magic.startswith(_ZIP_MAGIC) and not magic.startswith(_PICKLE_PROTOCOL_MARK):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (neither a torch.save zip archive nor a legacy pickle)")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path} holds Python objects other than tensors; refusing to unpickle them (weights_only loading)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        reason = str(error).strip().splitlines()[0].split(". ")[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({reason[:160]})") from None
    state_dict = _unwrap(loaded)
    if state_dict is None:
        raise CheckpointError(f"{path} does not hold a state_dict of tensors (found {type(loaded).__name__})")
    return state_dict


def _checkpoint_class_count(state_dict: Mapping[str, torch.Tensor]) -> int | None:
    head = state_dict.get(_CLASS_HEAD_KEY)
    if head is None or head.ndim != 4 or head.shape[0] % ANCHORS_PER_LOCATION:
        return None
    return head.shape[0] // ANCHORS_PER_LOCATION


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN_MISMATCHES])
    return shown + (f" (+{len(keys) - _SHOWN_MISMATCHES} more)" if len(keys) > _SHOWN_MISMATCHES else "")


def check_state_dict(state_dict: Mapping[str, torch.Tensor], network: MobileNetV1SSD, source: str) -> None:
    """Raise a one-line CheckpointError unless `state_dict` has exactly the network's keys and shapes."""
    expected = network.state_dict()
    checkpoint_classes = _checkpoint_class_count(state_dict)
    if checkpoint_classes is not None and checkpoint_classes != network.num_classes:
        raise CheckpointError(
            f"{source} was trained for {checkpoint_classes} classes ({_CLASS_HEAD_KEY} has "
            f"{checkpoint_classes * ANCHORS_PER_LOCATION} outputs) but labels.txt lists {network.num_classes} "
            "(including BACKGROUND)"
        )
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    wrong_shape = [
        f"{key} {tuple(state_dict[key].shape)} != {tuple(tensor.shape)}"
        for key, tensor in expected.items()
        if key in state_dict and state_dict[key].shape != tensor.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if wrong_shape:
        problems.append(f"wrong shapes: {_listing(wrong_shape)}")
    if problems:
        raise CheckpointError(f"{source} is not a pytorch-ssd mb1-ssd checkpoint: " + "; ".join(problems))


def load_model(weights: str | Path, labels: str | Path) -> LoadedModel:
    """Build the network for labels.txt's classes and load the checkpoint strictly (fp16 weights become fp32)."""
    class_names = read_labels(labels)
    network = build_mobilenet_v1_ssd(len(class_names))
    state_dict = read_state_dict(weights)
    check_state_dict(state_dict, network, str(weights))
    network.load_state_dict({key: tensor.float() if tensor.is_floating_point() else tensor
                             for key, tensor in state_dict.items()}, strict=True)
    network.eval()
    return LoadedModel(network, class_names, Path(weights), Path(labels))


def save_state_dict(network: MobileNetV1SSD, path: str | Path, *, half: bool = False) -> Path:
    """Write the state_dict as pytorch-ssd does (plain ordered dict), atomically; `half` stores floats as fp16."""
    path = Path(path)
    state_dict = {
        key: tensor.half() if half and tensor.is_floating_point() else tensor
        for key, tensor in network.state_dict().items()
    }
    with atomic_path(path) as temporary:
        torch.save(state_dict, temporary)
    return path


def write_labels(class_names: list[str], path: str | Path) -> Path:
    """labels.txt as train_ssd.py writes it: names joined by newlines, no trailing newline."""
    return write_text_atomic(path, "\n".join(class_names))
