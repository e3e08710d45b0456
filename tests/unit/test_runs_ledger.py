"""Recording through the history's door and reading back on a real SQLite file: record, read back, fail, interrupt,
lineage, listing, sweep."""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import update

from core.errors import UserError
from core.ledger import History, RunFilters
from core.ledger.liveness import process_identity
from db import queries
from db.engine import make_engine, session_scope
from db.migrate import upgrade_engine
from db.models import Run


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger' / 'history.sqlite'}"


@pytest.fixture
def history(db_url: str):
    with History.open(db_url) as opened:
        yield opened


def _read(url: str, run_id: int):
    with History.open(url) as history:
        return history.detail(run_id).run


def test_recorded_run_reads_back_with_metrics_and_artifacts(history: History, db_url: str, tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x01onnx bytes" * 100)
    with history.record("export", {"opset": 17, "output": tmp_path / "x.onnx"}) as run:
        run.metric("loss", 2.5, epoch=1)
        run.metric("ap", 0.61, class_name="Zebra")
        run.metric("images_per_sec", 123.4, unit="img/s")
        recorded = run.artifact(model, format="onnx", precision="fp32")
    assert recorded.sha256 == hashlib.sha256(model.read_bytes()).hexdigest()

    stored = _read(db_url, run.id)
    assert stored is not None
    assert (stored.kind, stored.status, stored.error) == ("export", "succeeded", None)
    assert stored.params == {"opset": 17, "output": str(tmp_path / "x.onnx")}
    assert stored.started_at.tzinfo is not None and stored.finished_at >= stored.started_at
    assert stored.host == socket.gethostname() and stored.pid == os.getpid()
    assert stored.device and stored.environment["cpu"] and "python" in stored.environment["libraries"]
    assert [(m.name, m.value, m.unit, m.epoch, m.class_name) for m in stored.metrics] == [
        ("loss", 2.5, None, 1, None), ("ap", 0.61, None, None, "Zebra"), ("images_per_sec", 123.4, "img/s", None, None)]
    [artifact] = stored.artifacts
    assert (artifact.kind, artifact.path, artifact.bytes, artifact.format, artifact.precision) == (
        "output", str(model.resolve()), model.stat().st_size, "onnx", "fp32")
    assert artifact.sha256 == recorded.sha256


def test_failing_job_leaves_failed_run_with_message(history: History, db_url: str) -> None:
    with pytest.raises(ValueError, match="calibration"):
        with history.record("quantize", {}) as run:
            run.metric("progress", 0.5)
            raise ValueError("calibration set is empty\n(no images found)")
    stored = _read(db_url, run.id)
    assert stored.status == "failed"
    assert stored.error == "ValueError: calibration set is empty (no images found)"
    assert stored.finished_at is not None and [m.name for m in stored.metrics] == ["progress"]


def test_keyboard_interrupt_marks_run_interrupted(history: History, db_url: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        with history.record("train", {"epochs": 30}) as run:
            raise KeyboardInterrupt
    stored = _read(db_url, run.id)
    assert stored.status == "interrupted" and "KeyboardInterrupt" in stored.error


def test_input_artifact_links_the_run_that_wrote_it(history: History, db_url: str, tmp_path: Path) -> None:
    weights, onnx_file = tmp_path / "w.pth", tmp_path / "m.onnx"
    weights.write_bytes(b"weights")
    with history.record("train", {}) as train:
        train.artifact(weights)
    with history.record("export", {}) as export:
        export.artifact(weights, kind="input")
        onnx_file.write_bytes(b"graph")
        export.artifact(onnx_file)
    with history.record("quantize", {}) as quantize:
        quantize.artifact(onnx_file, kind="input")
    assert (export.parent_id, quantize.parent_id) == (train.id, export.id)
    assert _read(db_url, quantize.id).parent_id == export.id
    assert [item.id for item in history.detail(quantize.id).ancestors] == [train.id, export.id]
    with pytest.raises(UserError, match="not a file"):
        with history.record("export", {}) as broken:
            broken.artifact(tmp_path / "missing.pth")


def test_listing_is_newest_first_with_key_metrics_and_filters(history: History, db_url: str) -> None:
    for index in range(5):
        with history.record("benchmark" if index % 2 else "export", {"i": index}) as run:
            run.metric("fps", 10.0 * index, unit="fps")
            run.metric("fps", 10.0 * index + 1, unit="fps")  # a later value of the same name wins
            run.metric("loss", 9.0, epoch=1)  # per-epoch: not a key metric
    every = RunFilters(archived=None)
    listed = history.page(every, limit=3, key_metrics=True).rows
    assert [run.id for run in listed] == [5, 4, 3]
    assert listed[0].metrics["fps"].value == 41.0 and listed[0].metrics["fps"].unit == "fps"
    assert all(set(run.metrics) == {"fps"} for run in listed)
    assert [run.id for run in history.page(RunFilters(kinds=("benchmark",), archived=None)).rows] == [4, 2]
    assert history.page(RunFilters(statuses=("failed",), archived=None)).rows == []
    assert history.page(every).total == 5 and history.page(RunFilters(kinds=("export",), archived=None)).total == 3
    assert history.find(listed[0].uuid[:8]).run.id == 5
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        uuid = listed[0].uuid
        assert queries.find_run(session, ref=uuid[:8]).id == 5
        assert queries.find_run(session, ref=uuid).id == 5
        assert queries.find_run(session, ref="2").id == 2
        assert queries.find_run(session, ref="abc") is None
        session.execute(update(Run).where(Run.id == 3).values(uuid="56083367-0000-4000-8000-000000000003"))
        assert queries.find_run(session, ref="56083367").id == 3  # an all-digit prefix that is no run's id
    engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    engine.dispose()


def _insert_running(url: str, identity: dict) -> int:
    engine = make_engine(url)
    upgrade_engine(engine)
    with session_scope(engine) as session:
        run = queries.create_run(session, uuid=os.urandom(16).hex(), kind="train", params={},
                                 started_at=datetime.now(timezone.utc), device="cpu", host=socket.gethostname(),
                                 pid=identity["pid"], environment={"process": identity})
        run_id = run.id
    engine.dispose()
    return run_id


def test_start_marks_runs_of_dead_processes_interrupted_and_keeps_live_ones(db_url: str) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                              check=True)
    dead = _insert_running(db_url, {"pid": int(finished.stdout), "boot_id": None, "start_ticks": None})
    reused_pid = _insert_running(db_url, {**process_identity(), "start_ticks": -1})
    other_machine = _insert_running(db_url, {"pid": int(finished.stdout), "machine_id": "another-machine"})
    alive = _insert_running(db_url, process_identity())
    History.open(db_url).close()  # what the CLI and the app do on start
    assert _read(db_url, dead).status == "interrupted"
    assert "ended without recording a result" in _read(db_url, dead).error
    assert _read(db_url, reused_pid).status == "interrupted"
    assert _read(db_url, other_machine).status == "running"
    assert _read(db_url, alive).status == "running"
