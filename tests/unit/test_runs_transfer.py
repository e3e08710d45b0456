"""Export a history (JSONL, CSV), merge it into a fresh database without duplicates, and the `runs` CLI."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from core.cli import main
from core.errors import UserError
from core.ledger import run_recorder
from core.ledger.transfer import export_csv, export_jsonl, import_jsonl
from db.queries import ImportResult


def _url(folder: Path, name: str) -> str:
    return f"sqlite:///{folder / name}"


@pytest.fixture
def source(tmp_path: Path) -> str:
    """A history of a train -> export -> quantize lineage plus a failed benchmark."""
    url = _url(tmp_path, "device.sqlite")
    weights, onnx_file = tmp_path / "w.pth", tmp_path / "m.onnx"
    weights.write_bytes(b"weights")
    onnx_file.write_bytes(b"graph")
    with run_recorder("train", {"epochs": 2}, db_url=url) as train:
        train.metric("loss", 3.0, epoch=1)
        train.metric("mAP", 0.42)
        train.metric("ap", 0.5, class_name="Zebra")
        train.artifact(weights)
    with run_recorder("export", {"opset": 17}, db_url=url) as export:
        export.artifact(weights, kind="input")
        export.artifact(onnx_file, precision="fp32")
    with run_recorder("quantize", {}, parent_id=export.id, db_url=url) as quantize:
        quantize.metric("size_ratio", 0.26)
    with pytest.raises(RuntimeError):
        with run_recorder("benchmark", {}, db_url=url):
            raise RuntimeError("no GPU")
    return url


def _comparable(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_export_import_round_trips_without_duplicates(source: str, tmp_path: Path) -> None:
    exported = tmp_path / "out" / "history.jsonl"
    assert export_jsonl(source, exported) == 4
    fresh = _url(tmp_path, "fresh.sqlite")
    assert import_jsonl(fresh, exported) == ImportResult(added=4, skipped=0)
    assert import_jsonl(fresh, exported) == ImportResult(added=0, skipped=4)
    round_trip = tmp_path / "round_trip.jsonl"
    assert export_jsonl(fresh, round_trip) == 4
    assert _comparable(round_trip) == _comparable(exported)
    records = {record["kind"]: record for record in _comparable(round_trip)}
    assert records["export"]["parent_uuid"] == records["train"]["uuid"]
    assert records["quantize"]["parent_uuid"] == records["export"]["uuid"]
    assert records["benchmark"]["status"] == "failed" and records["benchmark"]["error"] == "RuntimeError: no GPU"


def test_import_merges_into_a_database_with_its_own_runs(source: str, tmp_path: Path) -> None:
    exported = tmp_path / "history.jsonl"
    export_jsonl(source, exported)
    local = _url(tmp_path, "local.sqlite")
    with run_recorder("evaluate", {}, db_url=local):
        pass
    assert import_jsonl(local, exported).added == 4
    merged = tmp_path / "merged.jsonl"
    assert export_jsonl(local, merged) == 5
    records = {record["kind"]: record for record in _comparable(merged)}
    assert records["export"]["parent_uuid"] == records["train"]["uuid"]
    # exporting the merged history back to the device adds only the run it did not have
    assert import_jsonl(source, merged).added == 1


def test_import_rejects_bad_lines_and_records_without_writing(source: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"uuid": "a"\n')
    with pytest.raises(UserError, match=r"bad.jsonl:1"):
        import_jsonl(source, bad)
    bad.write_text('{"uuid": "b", "kind": "x", "status": "done", "started_at": "2025-01-01T00:00:00"}\n')
    with pytest.raises(UserError, match="unknown status"):
        import_jsonl(source, bad)


def test_csv_has_a_row_per_run_with_key_metric_columns(source: str, tmp_path: Path) -> None:
    output = tmp_path / "runs.csv"
    assert export_csv(source, output, kind="train") == 1
    [row] = list(csv.DictReader(output.open()))
    assert row["kind"] == "train" and float(row["metric.mAP"]) == 0.42 and "metric.loss" not in row
    assert json.loads(row["params"]) == {"epochs": 2} and float(row["duration_s"]) >= 0
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_list_show_export_import(source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--db-url", source, "list", "--json", "--kind", "train"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["kind"] == "train" and listed["metrics"] == {"mAP": {"value": 0.42, "unit": None}}

    assert main(["runs", "--db-url", source, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["ID", "KIND", "STATUS"] and len(table) == 5 and "failed" in table[1]

    assert main(["runs", "--db-url", source, "show", listed["uuid"][:8]]) == 0
    shown = capsys.readouterr().out
    assert "kind      train" in shown and "mAP" in shown and "Zebra" in shown and "w.pth" in shown

    jsonl, table_file = tmp_path / "h.jsonl", tmp_path / "h.csv"
    assert main(["runs", "--db-url", source, "export", "--csv", str(table_file), "--jsonl", str(jsonl)]) == 0
    fresh = _url(tmp_path, "cli.sqlite")
    assert main(["runs", "--db-url", fresh, "import", str(jsonl)]) == 0
    assert main(["runs", "--db-url", fresh, "import", str(jsonl)]) == 0
    assert "imported 0 runs, skipped 4" in capsys.readouterr().out.splitlines()[-1]


def test_cli_user_errors_exit_2(source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--db-url", source, "show", "999"]) == 2
    assert main(["runs", "--db-url", source, "export"]) == 2
    assert main(["runs", "--db-url", source, "import", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["runs", "--db-url", "not a url", "list"]) == 2
    assert main(["runs", "--db-url", source, "list", "--limit", "0"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 5 and all(line.startswith("error: ") for line in errors)
