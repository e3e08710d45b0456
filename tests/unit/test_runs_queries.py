"""The history pages' queries: paging, sorting and filtering in the database, one statement per table, detail with
lineage, metrics of many runs, archive and delete."""
from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from db import queries
from db.engine import make_engine, session_scope
from db.migrate import upgrade_engine
from db.queries import RunFilters

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
TARGETS = ("torch-fp32", "ort-fp32", "ort-int8")


def record(index: int, *, kind: str, parent: str | None = None, **params: Any) -> dict[str, Any]:
    started = START + timedelta(hours=index)
    return {"uuid": str(uuid.UUID(int=index + 1)), "kind": kind, "status": "failed" if index % 5 == 4 else "succeeded",
            "started_at": started.isoformat(), "finished_at": (started + timedelta(seconds=10 + index)).isoformat(),
            "params": params, "device": f"dev{index % 2}", "host": "jetson" if index % 3 == 0 else "laptop",
            "environment": {}, "parent_uuid": parent, "error": None,
            "metrics": [{"name": "map50", "value": index / 100}, {"name": "val_loss", "value": 1.0, "epoch": 1},
                        {"name": "ap50", "value": 0.5, "class_name": "star"}],
            "artifacts": [{"kind": "output", "path": f"/m/{index}.onnx", "sha256": f"{index:064x}", "bytes": index}]}


def history() -> list[dict[str, Any]]:
    """20 runs: a chain export(0) -> optimize(1) -> optimize(2) -> optimize(3), the rest alternating kinds."""
    records = [record(0, kind="export", weights="a.pth")]
    for index in range(1, 20):
        kind = "optimize" if index < 4 or index % 2 else "train"
        parent = records[index - 1]["uuid"] if index < 4 else None
        records.append(record(index, kind=kind, parent=parent, weights="a.pth" if index % 2 else "b.pth",
                              target=TARGETS[index % 3], precision=TARGETS[index % 3].split("-")[1]))
    return records


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'history.sqlite'}")
    upgrade_engine(engine)
    with session_scope(engine) as session:
        queries.import_records(session, records=history())
    yield engine
    engine.dispose()


@contextmanager
def statements(engine) -> Iterator[Counter]:
    """Counts the statements sent to the database, by the first table each one reads."""
    counts: Counter = Counter()

    def count(_conn, _cursor, statement: str, *_args) -> None:
        words = statement.replace("\n", " ").split()
        tables = [word for word in words if word in ("runs", "metrics", "artifacts")]
        counts[tables[0] if tables else "other"] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_page_sorts_pages_and_counts_in_one_statement(engine) -> None:
    with session_scope(engine) as session, statements(engine) as counts:
        first = queries.page_runs(session, sort="started_at", descending=True, offset=0, limit=7)
        last = queries.page_runs(session, sort="started_at", descending=True, offset=14, limit=7)
    assert counts == Counter(runs=2)
    assert first.total == last.total == 20
    assert [row.id for row in first.rows] == list(range(20, 13, -1))
    assert [row.id for row in last.rows] == list(range(6, 0, -1))


@pytest.mark.parametrize(("sort", "key"), [("duration", None), ("host", "host"), ("model", "model"),
                                           ("target", "target"), ("finished_at", "finished_at")])
def test_page_sorts_by_any_column(engine, sort: str, key: str | None) -> None:
    with session_scope(engine) as session:
        if key is None:
            with pytest.raises(ValueError, match="cannot sort runs by 'duration'"):
                queries.page_runs(session, sort=sort)
            return
        rows = queries.page_runs(session, sort=sort, descending=False, limit=100).rows
    values = [(getattr(row, key) or "", row.id) for row in rows]
    assert values == sorted(values)


def _ids(predicate) -> set[int]:
    return {index + 1 for index, item in enumerate(history()) if predicate(item)}


def test_filters_run_in_the_database(engine) -> None:
    hour = timedelta(hours=1)
    cases = {
        RunFilters(kinds=("train",)): _ids(lambda r: r["kind"] == "train"),
        RunFilters(statuses=("failed",)): _ids(lambda r: r["status"] == "failed"),
        RunFilters(kinds=("optimize",), model="a.pth", target="ort-int8"): _ids(
            lambda r: r["kind"] == "optimize" and r["params"].get("weights") == "a.pth"
            and r["params"].get("target") == "ort-int8"),
        RunFilters(precision="int8", host="laptop"): _ids(
            lambda r: r["params"].get("precision") == "int8" and r["host"] == "laptop"),
        RunFilters(device="dev0", host="laptop"): _ids(lambda r: r["device"] == "dev0" and r["host"] == "laptop"),
        RunFilters(started_from=START + 2 * hour, started_before=START + 5 * hour): {3, 4, 5},
    }
    with session_scope(engine) as session:
        for filters, expected in cases.items():
            assert expected, filters  # each case selects something, and not everything
            assert len(expected) < 20, filters
            page = queries.page_runs(session, filters=filters, limit=100)
            assert {row.id for row in page.rows} == expected, filters
            assert page.total == len(expected)


def test_past_the_last_page_still_counts(engine) -> None:
    with session_scope(engine) as session:
        page = queries.page_runs(session, filters=RunFilters(kinds=("train",)), offset=50, limit=10)
    assert page.rows == [] and page.total == len(_ids(lambda r: r["kind"] == "train")) > 0


def test_page_with_key_metrics_in_one_more_statement(engine) -> None:
    with session_scope(engine) as session, statements(engine) as counts:
        page = queries.page_runs(session, sort="id", descending=False, limit=3, key_metrics=True)
    assert counts == Counter(runs=1, metrics=1)
    assert [row.id for row in page.rows] == [1, 2, 3]
    assert all(set(row.metrics) == {"map50"} for row in page.rows)  # no per-epoch or per-class value
    assert page.rows[2].metrics["map50"].value == 0.02


def test_runs_of_one_invocation_are_found_by_their_parameter(engine) -> None:
    with session_scope(engine) as session:
        queries.import_records(session, records=[
            {**record(30 + index, kind="optimize", optimize_id=invocation), "uuid": str(uuid.uuid4())}
            for index, invocation in enumerate(["a", "b", "a", "a"])])
        page = queries.page_runs(session, filters=RunFilters(optimize_id="a"), sort="id", descending=False)
    assert page.total == 3 and [row.params["optimize_id"] for row in page.rows] == ["a", "a", "a"]


def test_filter_options_in_one_statement(engine) -> None:
    with session_scope(engine) as session, statements(engine) as counts:
        options = queries.filter_options(session)
    assert counts == Counter(runs=1)
    assert options.kinds == ["export", "optimize", "train"]
    assert options.targets == sorted(TARGETS) and options.precisions == ["fp32", "int8"]
    assert options.hosts == ["jetson", "laptop"] and options.models == ["a.pth", "b.pth"]


def test_detail_has_lineage_metrics_and_artifacts(engine) -> None:
    with session_scope(engine) as session, statements(engine) as counts:
        detail = queries.run_detail(session, run_id=3)
    assert detail is not None
    assert [(item.id, item.depth) for item in detail.ancestors] == [(1, -2), (2, -1)]
    assert [(item.id, item.kind) for item in detail.children] == [(4, "optimize")]
    assert [metric.name for metric in detail.run.metrics] == ["map50", "val_loss", "ap50"]
    assert detail.run.artifacts[0].sha256 == f"{2:064x}"
    assert counts == Counter(runs=2, metrics=1, artifacts=1)  # the run, its lineage, metrics, artifacts
    with session_scope(engine) as session:
        assert queries.run_detail(session, run_id=999) is None


def test_metrics_of_many_runs_in_one_statement(engine) -> None:
    with session_scope(engine) as session, statements(engine) as counts:
        everything = queries.metrics_of_runs(session, run_ids=range(1, 21))
        summary = queries.metrics_of_runs(session, run_ids=[1, 2], key_only=True)
        named = queries.metrics_of_runs(session, run_ids=[1, 2], names=["val_loss"])
    assert counts == Counter(metrics=3)
    assert len(everything) == 60
    assert [(m.run_id, m.name) for m in summary] == [(1, "map50"), (2, "map50")]
    assert [(m.run_id, m.epoch) for m in named] == [(1, 1), (2, 1)]


def test_archive_hides_runs_from_the_default_listing(engine) -> None:
    with session_scope(engine) as session:
        assert queries.set_archived(session, run_ids=[1, 2, 3], archived=True) == 3
        assert queries.set_archived(session, run_ids=[1, 2], archived=True) == 0
    with session_scope(engine) as session:
        assert queries.page_runs(session).total == 17
        assert {row.id for row in queries.page_runs(session, filters=RunFilters(archived=True)).rows} == {1, 2, 3}
        assert queries.page_runs(session, filters=RunFilters(archived=None)).total == 20
        assert queries.set_archived(session, run_ids=[2], archived=False) == 1
    with session_scope(engine) as session:
        assert queries.page_runs(session).total == 18


def test_delete_removes_metrics_and_artifacts_and_orphans_children(engine) -> None:
    with session_scope(engine) as session:
        assert queries.delete_runs(session, run_ids=[2]) == 1
    with session_scope(engine) as session:
        assert queries.run_detail(session, run_id=2) is None
        child = queries.run_detail(session, run_id=3)
        assert child is not None and child.run.parent_id is None and child.ancestors == []
        assert queries.metrics_of_runs(session, run_ids=[2]) == []
        assert queries.page_runs(session, filters=RunFilters(archived=None)).total == 19
        assert [a.path for a in queries.get_run(session, run_id=1).artifacts] == ["/m/0.onnx"]
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM artifacts WHERE run_id = 2").scalar() == 0


def test_export_records_of_selected_runs(engine) -> None:
    with session_scope(engine) as session:
        records = list(queries.export_records(session, run_ids=[3, 1]))
    assert [record["uuid"] for record in records] == [str(uuid.UUID(int=1)), str(uuid.UUID(int=3))]
    assert records[1]["parent_uuid"] == str(uuid.UUID(int=2))


def test_training_rows_reads_a_fixed_number_of_statements(tmp_path: Path) -> None:
    from sqlalchemy import Engine

    from core.ledger import History

    history = History.open(f"sqlite:///{tmp_path / 'history.sqlite'}")

    def add_training_runs(count: int) -> None:
        history.import_records([{
            **record(100 + index, kind="train", batch_size=8, data="/d/shapes"),
            "uuid": str(uuid.uuid4()), "status": "succeeded",
            "metrics": [{"name": "images_per_sec", "value": 10.0 + index, "epoch": 0},
                        {"name": "epoch_seconds", "value": 2.0, "epoch": 0}],
        } for index in range(count)])

    def statements_of_training_rows() -> tuple[Counter, int]:
        counts: Counter = Counter()

        def count(*args) -> None:
            counts[args[2].split()[0]] += 1

        event.listen(Engine, "before_cursor_execute", count)
        try:
            rows = history.training_rows()
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        return counts, len(rows)

    add_training_runs(2)
    few, shown = statements_of_training_rows()
    assert shown == 2
    add_training_runs(10)
    many, shown = statements_of_training_rows()
    assert shown == 12
    assert many == few
    history.close()
