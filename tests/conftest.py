"""Shared fixtures: a private data root and run history for every test, a seeded random-init pytorch-ssd
checkpoint with labels, and test frames."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from core.model import build_mobilenet_v1_ssd
from core.model.checkpoint import save_state_dict, write_labels

# The variables that decide where the app writes; tests must never reach the user's own data root or history.
ISOLATED_VARIABLES = ("EDS_DATA_ROOT", "EDS_DB_URL", "EDS_ALLOWED_ROOTS")


def _isolate(patch: pytest.MonkeyPatch, data_root: Path) -> None:
    """Point the data root and the history at `data_root`, for this process and every subprocess that inherits
    os.environ. EDS_DB_URL is removed, so the history is the SQLite file inside the data root, and a server started
    with another EDS_DATA_ROOT (the browser tests) gets its own history along with it."""
    for name in ISOLATED_VARIABLES:
        patch.delenv(name, raising=False)
    patch.setenv("EDS_DATA_ROOT", str(data_root))


@pytest.fixture(autouse=True)
def main_module_restored() -> Iterator[None]:
    """Streamlit's AppTest runs a page as `__main__` and leaves it there; a later process pool started with spawn
    would re-run that page in every worker. The test runner's own `__main__` comes back after each test."""
    main_module = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main_module


@pytest.fixture(scope="session", autouse=True)
def isolated_session_data_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data root for session- and module-scoped fixtures (they start before any per-test fixture)."""
    data_root = tmp_path_factory.mktemp("session-data-root")
    with pytest.MonkeyPatch.context() as patch:
        _isolate(patch, data_root)
        yield data_root


@pytest.fixture(autouse=True)
def isolated_data_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own data root and run history, outside its `tmp_path` so listings of `tmp_path` stay as the
    test made them."""
    root = tmp_path_factory.mktemp("data-root")
    _isolate(monkeypatch, root)
    return root


TEST_CLASSES = ["BACKGROUND", "Armadillo", "Blue jay", "Rhinoceros", "Sea turtle", "Sparrow", "Whale", "Zebra"]


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> tuple[Path, Path]:
    """(weights.pth, labels.txt) of a seeded random-init 8-class mb1-ssd in pytorch-ssd's on-disk format."""
    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(1234)
    network = build_mobilenet_v1_ssd(len(TEST_CLASSES))
    weights = save_state_dict(network, folder / "mb1-ssd-Epoch-0-Loss-9.876.pth")
    labels = write_labels(TEST_CLASSES, folder / "labels.txt")
    return weights, labels


@pytest.fixture(scope="session")
def frames() -> list[np.ndarray]:
    """Eight BGR frames of different sizes with some structure (gradients and filled shapes)."""
    rng = np.random.default_rng(7)
    sizes = [(480, 640), (480, 640), (360, 480), (720, 1280), (300, 300), (240, 320), (480, 640), (123, 457)]
    result = []
    for height, width in sizes:
        frame = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
        y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
        frame[y0 : y0 + height // 3, x0 : x0 + width // 3] = rng.integers(100, 255, 3, dtype=np.uint8)
        result.append(frame)
    return result
