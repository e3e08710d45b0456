"""The model catalog: finding models only looks (it writes nothing, even when it finds none); the untrained model is
written only when asked for, and only where nothing else is found."""
from __future__ import annotations

from core.config import load_settings
from core.model import catalog


def _files(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_finding_models_writes_nothing_and_the_untrained_model_is_made_only_when_asked(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(catalog, "DEMO_DIR", tmp_path / "no-demo-weights")
    settings = load_settings({"EDS_DATA_ROOT": str(tmp_path / "data")})
    assert catalog.find_models(settings) == [] and _files(tmp_path) == []
    (entry,) = catalog.models_or_untrained(settings)
    assert entry.name == catalog.UNTRAINED_NAME and not entry.trained
    assert entry.weights.is_file() and entry.labels.is_file()
    assert catalog.find_models(settings) == []  # the untrained model is never offered as a found one


def test_the_bundled_demo_weights_come_first_and_nothing_is_written(tmp_path) -> None:
    settings = load_settings({"EDS_DATA_ROOT": str(tmp_path)})
    models = catalog.models_or_untrained(settings)
    assert models == catalog.find_models(settings) and models[0].trained and models[0].name.startswith("demo: ")
    assert _files(tmp_path) == []
