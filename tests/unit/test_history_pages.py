"""Smoke tests of the Runs, Compare and Training pages with Streamlit's AppTest on a small recorded history."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.components.text import plain
from db import queries
from db.engine import make_engine, session_scope
from db.migrate import upgrade_to_head

VIEWS = Path(__file__).resolve().parents[2] / "dashboard" / "views"
T0 = datetime(2026, 2, 1, tzinfo=timezone.utc)
CLASSES = ("circle", "star")


def _record(index: int, kind: str, params: dict[str, Any], metrics: list[dict[str, Any]], *,
            parent: str | None = None, status: str = "succeeded", error: str | None = None) -> dict[str, Any]:
    started = T0 + timedelta(minutes=index)
    return {"uuid": str(uuid.UUID(int=index)), "kind": kind, "status": status, "started_at": started.isoformat(),
            "finished_at": (started + timedelta(seconds=30)).isoformat(), "params": params, "device": "cpu",
            "host": "laptop", "pid": 42, "environment": {"libraries": {"torch": "2"}}, "parent_uuid": parent,
            "error": error, "metrics": metrics,
            "artifacts": [{"kind": "output", "path": f"/m/{index}", "sha256": f"{index:064x}", "bytes": 10 * index,
                           "format": "onnx", "precision": "fp32"}]}


def _evaluation(index: int, backend: str, weights: str, map50: float, speed: float, parent: str | None):
    metrics = [{"name": "map50", "value": map50}, {"name": "coco_map", "value": map50 - 0.1},
               {"name": "images_per_sec", "value": speed, "unit": "img/s"}]
    metrics += [{"name": "ap50", "value": map50 - offset, "class_name": name}
                for offset, name in zip((0.0, 0.02), CLASSES)]
    return _record(index, "evaluation", {"backend": backend, "precision": "fp32", "weights": weights}, metrics,
                   parent=parent)


def history_records() -> list[dict[str, Any]]:
    """A training run with epochs, an export, evaluations of the .pth and of its ONNX, and a failed run."""
    epochs = [{"name": name, "value": value, "epoch": epoch} for epoch in range(3)
              for name, value in (("train_loss", 5.0 - epoch), ("val_map50", 0.3 * epoch),
                                  ("images_per_sec", 100.0 + epoch), ("epoch_seconds", 3.0))]
    train = _record(1, "train", {"batch_size": 8, "data": "/d/demo"}, epochs)
    export = _record(2, "export", {"weights": "/m/demo.pth"}, [], parent=train["uuid"])
    return [train, export, _evaluation(3, "torch", "/m/demo.pth", 0.99, 20.0, None),
            _evaluation(4, "onnxruntime", "/m/demo.onnx", 0.98, 40.0, export["uuid"]),
            _record(5, "optimize", {"target": "trt-int8"}, [], status="failed", error="RuntimeError: no GPU")]


@pytest.fixture
def history_root(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        queries.import_records(session, records=history_records())
    engine.dispose()
    return tmp_path


def run_page(monkeypatch, root: Path, name: str) -> AppTest:
    monkeypatch.setenv("EDS_DATA_ROOT", str(root))
    monkeypatch.delenv("EDS_DB_URL", raising=False)
    monkeypatch.setenv("EDS_AUTH", "off")  # the page alone: its fragments' login check is tested in test_auth
    st.cache_data.clear()
    st.cache_resource.clear()  # the ledger engine of an earlier test's data root
    app = AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=60)
    app.run()
    assert not app.exception
    return app


@pytest.mark.timeout(120)
def test_runs_page_lists_runs_and_shows_detail_with_lineage(monkeypatch, history_root) -> None:
    app = run_page(monkeypatch, history_root, "runs")
    assert app.title[0].value == "Runs"
    table = app.dataframe[0].value
    assert list(table["id"]) == [5, 4, 3, 2, 1]
    assert list(table["status"])[0] == "● failed"
    assert app.caption[0].value == "5 runs match; showing 1-5"
    assert not app.subheader  # a run's detail is drawn on demand
    app.selectbox(key="runs_detail").select(4).run()
    assert not app.exception
    lineage = "\n".join(item.value for item in app.markdown)
    assert "ancestor **#1** train" in lineage and "parent **#2** export" in lineage
    app.selectbox(key="runs_detail").select(5).run()
    assert app.error[0].value == plain("RuntimeError: no GPU")
    app.multiselect(key="runs_kinds").select("evaluation").run()
    assert list(app.dataframe[0].value["id"]) == [4, 3]
    app.selectbox(key="runs_sort").select("id").run()
    app.toggle(key="runs_descending").set_value(False).run()
    assert list(app.dataframe[0].value["id"]) == [3, 4]


@pytest.mark.timeout(120)
def test_runs_page_empty_state_names_the_first_command(monkeypatch, tmp_path) -> None:
    app = run_page(monkeypatch, tmp_path, "runs")
    assert "python -m core evaluate" in app.info[0].value


@pytest.mark.timeout(120)
def test_compare_page_shows_table_deltas_and_charts(monkeypatch, history_root) -> None:
    app = run_page(monkeypatch, history_root, "compare")
    assert app.selectbox(key="compare_model").value == "demo"
    table = app.dataframe[0].value
    assert list(table["target"]) == ["torch-fp32", "ort-fp32"]
    assert list(table["ΔmAP@0.5"].round(4)) == [0.0, -0.01]
    assert list(table["speed-up"]) == [1.0, 2.0]
    assert "| run | target |" in app.code[0].value
    assert len(app.get("plotly_chart")) == 3  # Pareto, latency by target, per-class bars
    classes = app.dataframe[1].value
    assert list(classes["class"]) == list(CLASSES)


@pytest.mark.timeout(120)
def test_compare_page_empty_state(monkeypatch, tmp_path) -> None:
    app = run_page(monkeypatch, tmp_path, "compare")
    assert "python -m core optimize" in app.info[0].value


@pytest.mark.timeout(120)
def test_training_page_shows_curves_and_the_seed_table(monkeypatch, history_root) -> None:
    app = run_page(monkeypatch, history_root, "training")
    assert len(app.get("plotly_chart")) == 3
    speed = app.dataframe[0].value
    assert list(speed["Images/sec"]) == [101.0] and list(speed["dataset"]) == ["demo"]
    assert app.code[0].value.startswith("| device | Images/sec | Time per epoch |")


@pytest.mark.timeout(120)
def test_training_page_empty_state(monkeypatch, tmp_path) -> None:
    app = run_page(monkeypatch, tmp_path, "training")
    assert "python -m core train" in app.info[0].value


def test_pages_import_no_database_or_model_library() -> None:
    sources = [path.read_text() for path in [*VIEWS.glob("*.py"), *(VIEWS.parent / "components").glob("*.py")]]
    for banned in ("import sqlalchemy", "from sqlalchemy", "import torch", "import cv2"):
        assert not any(banned in source for source in sources), banned


def test_import_from_the_page_is_all_or_nothing_and_bounded(monkeypatch, tmp_path) -> None:
    from core.errors import UserError
    from dashboard.components import history

    monkeypatch.setenv("EDS_DATA_ROOT", str(tmp_path))
    monkeypatch.delenv("EDS_DB_URL", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    lines = [json.dumps(record) for record in history_records()]
    with pytest.raises(UserError, match=r"^jetson.jsonl:3: not a JSON run record"):
        history.import_jsonl("jetson.jsonl", "\n".join([*lines[:2], "{oops", *lines[2:]]).encode())
    assert history.page(queries.RunFilters(archived=None), "id", True, 0, 10).total == 0
    with pytest.raises(UserError, match="not UTF-8"):
        history.import_jsonl("bad.jsonl", b"\xff\xfe")
    with monkeypatch.context() as patch, pytest.raises(UserError, match="imports up to"):
        patch.setattr(history, "MAX_IMPORT_BYTES", 100)
        history.import_jsonl("big.jsonl", "\n".join(lines).encode())
    result = history.import_jsonl("jetson.jsonl", "\n".join(lines).encode())
    assert (result.added, result.skipped) == (5, 0)
    assert history.page(queries.RunFilters(), "id", True, 0, 10).total == 5  # the cache was cleared
    assert history.set_archived([1, 2], True) == 2
    assert history.page(queries.RunFilters(), "id", True, 0, 10).total == 3
    assert history.delete([2]) == 1
    assert history.detail(4).record["parent_id"] is None  # its parent, run 2, is gone
    assert history.detail(4).ancestors == []
    exported = history.export_jsonl((1, 3))
    assert [json.loads(line)["uuid"] for line in exported.splitlines()] == [str(uuid.UUID(int=n)) for n in (1, 3)]
    assert history.export_csv((1, 3)).splitlines()[0].startswith("uuid,kind,status")
