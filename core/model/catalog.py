"""The models a user can pick: bundled demo weights and trained checkpoints under the data root (`find_models`, which
only looks), or, where there is none, a clearly labelled untrained (seeded random-init) model that `untrained_model`
writes into the data root (`models_or_untrained` does both)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.config import DEMO_DIR, SAMPLES_DIR, Settings

MODEL_SUFFIXES = (".pth", ".onnx")
UNTRAINED_NAME = "untrained (random init)"
_UNTRAINED_CLASSES = ["BACKGROUND", "Armadillo", "Blue jay", "Rhinoceros", "Sea turtle", "Sparrow", "Whale", "Zebra"]
_UNTRAINED_SEED = 0


@dataclass(frozen=True)
class ModelEntry:
    name: str
    weights: Path
    labels: Path
    trained: bool


def _entries_in(folder: Path, *, prefix: str) -> list[ModelEntry]:
    entries = []
    for labels in sorted(folder.rglob("labels.txt")) if folder.is_dir() else []:
        for weights in sorted(p for p in labels.parent.iterdir() if p.suffix.lower() in MODEL_SUFFIXES):
            name = f"{prefix}{weights.relative_to(folder)}"
            entries.append(ModelEntry(name, weights, labels, trained=True))
    return entries


def untrained_model(settings: Settings) -> ModelEntry:
    """A seeded random-init 7-animal model in the data root (written once), so every page works before training."""
    from core.model import build_mobilenet_v1_ssd
    from core.model.checkpoint import save_state_dict, write_labels

    folder = settings.data_root / "models" / "untrained"
    weights, labels = folder / "mb1-ssd-untrained.pth", folder / "labels.txt"
    if not (weights.is_file() and labels.is_file()):
        import torch

        folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(_UNTRAINED_SEED)
        save_state_dict(build_mobilenet_v1_ssd(len(_UNTRAINED_CLASSES)), weights)
        write_labels(_UNTRAINED_CLASSES, labels)
    return ModelEntry(UNTRAINED_NAME, weights, labels, trained=False)


def find_models(settings: Settings) -> list[ModelEntry]:
    """Demo weights first, then checkpoints under <data_root>/models (not the untrained model); writes nothing."""
    entries = _entries_in(DEMO_DIR, prefix="demo: ")
    return entries + [e for e in _entries_in(settings.data_root / "models", prefix="")
                      if "untrained" not in e.weights.parts]


def models_or_untrained(settings: Settings) -> list[ModelEntry]:
    """The models `find_models` finds or, when it finds none, the untrained model (written on first use)."""
    return find_models(settings) or [untrained_model(settings)]


def sample_images() -> list[Path]:
    """Bundled sample images for the Detect page."""
    return sorted(p for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
