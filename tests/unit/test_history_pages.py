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

from core.ledger import History, RunFilters
from dashboard.components.text import plain

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
    with History.open(f"sqlite:///{tmp_path / 'history.sqlite'}") as history:
        history.import_records(history_records())
    return tmp_path


def run_page(monkeypatch, root: Path, name: str) -> AppTest:
    monkeypatch.setenv("EDS_DATA_ROOT", str(root))
    monkeypatch.delenv("EDS_DB_URL", raising=False)
    monkeypatch.setenv("EDS_AUTH", "off")  # the page alone: its fragments' login check is tested in test_auth
    st.cache_data.clear()
    st.cache_resource.clear()  # the history of an earlier test's data root
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
    assert app.code[0].value.startswith("| target | device | speed-up | mAP@0.5 | ΔmAP@0.5 | COCO mAP |")
    assert "| base | host | run |" in app.code[0].value
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


def test_import_from_the_page_gives_the_command_line_s_one_line_message(monkeypatch, tmp_path, capsys) -> None:
    from core.cli import main
    from core.errors import UserError
    from dashboard.components import history

    monkeypatch.setenv("EDS_DATA_ROOT", str(tmp_path))
    monkeypatch.delenv("EDS_DB_URL", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    good = json.dumps(history_records()[0])
    for bad in ('{"a":' * 5000 + "1" + "}" * 5000,
                json.dumps({**history_records()[1], "metrics": [{"name": "map50", "value": "abc"}]}),
                json.dumps({**history_records()[1], "error": {"an": "object"}})):
        text = f"{good}\n{bad}\n"
        with pytest.raises(UserError) as raised:
            history.import_jsonl("jetson.jsonl", text.encode())
        (tmp_path / "jetson.jsonl").write_text(text)
        monkeypatch.chdir(tmp_path)
        assert main(["runs", "import", "jetson.jsonl"]) == 2
        assert capsys.readouterr().err == f"error: {raised.value}\n"
        assert str(raised.value).startswith("jetson.jsonl:2: ") and "nothing was imported" in str(raised.value)
    assert history.page(RunFilters(archived=None), "id", True, 0, 10).total == 0


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
    assert history.page(RunFilters(archived=None), "id", True, 0, 10).total == 0
    with pytest.raises(UserError, match="not UTF-8"):
        history.import_jsonl("bad.jsonl", b"\xff\xfe")
    with monkeypatch.context() as patch, pytest.raises(UserError, match="imports up to"):
        patch.setattr(history, "MAX_IMPORT_BYTES", 100)
        history.import_jsonl("big.jsonl", "\n".join(lines).encode())
    result = history.import_jsonl("jetson.jsonl", "\n".join(lines).encode())
    assert (result.added, result.skipped) == (5, 0)
    assert history.page(RunFilters(), "id", True, 0, 10).total == 5  # the cache was cleared
    assert history.set_archived([1, 2], True) == 2
    assert history.page(RunFilters(), "id", True, 0, 10).total == 3
    assert history.delete([2]) == 1
    assert history.detail(4).record["parent_id"] is None  # its parent, run 2, is gone
    assert history.detail(4).ancestors == []
    exported = history.export_jsonl((1, 3))
    assert [json.loads(line)["uuid"] for line in exported.splitlines()] == [str(uuid.UUID(int=n)) for n in (1, 3)]
    assert history.export_csv((1, 3)).splitlines()[0].startswith("uuid,kind,status")


def optimize_records() -> list[dict[str, Any]]:
    """One `core optimize` invocation on a CPU beside a Jetson's imported engines (no end-to-end time)."""
    rows = [("torch-fp32", "AMD EPYC", 16.0, 15.8, 37.0, 1.0, 0.8826, 15.1e6),
            ("ort-fp32", "AMD EPYC", 12.4, 12.4, 115.0, 1.0, 0.8826, 30.0e6),
            ("ort-int8", "AMD EPYC", 5.6, 6.8, 252.0, 0.99, 0.8869, 7.9e6),
            ("trt-fp32", "Jetson Orin", None, 9.0, 110.0, 1.0, 0.8830, 30.5e6),
            ("trt-int8", "Jetson Orin", None, 3.0, 330.0, 0.98, 0.8700, 9.0e6)]
    records = []
    for index, (target, device, e2e, p50, speed, map50, coco, size) in enumerate(rows, start=10):
        metrics = {"latency_p50_ms": p50, "throughput_b8": speed, "map50": map50, "coco_map": coco,
                   "model_bytes": size, "end_to_end_640x480_ms": e2e}
        record = _record(index, "optimize", {"target": target, "precision": target.split("-")[1],
                                             "weights": "/m/demo.pth", "optimize_id": "invocation-1"},
                         [{"name": name, "value": value} for name, value in metrics.items() if value is not None]
                         + [{"name": "ap50", "value": map50 - 0.01 * offset, "class_name": name}
                            for offset, name in enumerate(CLASSES)])
        records.append({**record, "device": device})
    return records


@pytest.mark.timeout(120)
def test_report_optimize_and_the_compare_page_give_the_same_table(monkeypatch, tmp_path, capsys) -> None:
    from core.cli import main

    with History.open(f"sqlite:///{tmp_path / 'history.sqlite'}") as history:
        history.import_records(optimize_records())
    app = run_page(monkeypatch, tmp_path, "compare")
    page_markdown = app.code[0].value
    assert main(["report", "optimize"]) == 0
    report = capsys.readouterr().out
    assert report.strip() == page_markdown
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in report.splitlines()[2:]]
    header = [cell.strip() for cell in report.splitlines()[0].strip("|").split("|")]
    by_target = {row[0]: dict(zip(header, row)) for row in rows}
    assert by_target["trt-int8"]["speed-up"] == "3.00x"  # the Jetson's own FP32 engine, by p50 latency
    assert by_target["ort-int8"]["speed-up"] == "2.86x"  # this CPU's torch-fp32, by end-to-end time
    assert by_target["trt-int8"]["ΔmAP@0.5"] == "-0.0200" and by_target["ort-int8"]["ΔmAP@0.5"] == "-0.0100"
    assert by_target["trt-fp32"]["base"] == "#4 trt-fp32" and by_target["ort-fp32"]["base"] == "#1 torch-fp32"
