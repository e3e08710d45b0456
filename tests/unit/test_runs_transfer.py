"""Export a history (JSONL, CSV), merge it into a fresh database without duplicates, and the `runs` CLI."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.config import REPO_ROOT
from core.errors import UserError
from core.ledger import History, ImportResult


def _url(folder: Path, name: str) -> str:
    return f"sqlite:///{folder / name}"


def export_jsonl(url: str, output: Path, **options) -> int:
    with History.open(url) as history:
        return history.export_jsonl(output, **options)


def export_csv(url: str, output: Path, **options) -> int:
    with History.open(url) as history:
        return history.export_csv(output, **options)


def import_jsonl(url: str, path: Path) -> ImportResult:
    with History.open(url) as history:
        return history.import_jsonl(path)


@pytest.fixture
def source(tmp_path: Path) -> str:
    """A history of a train -> export -> quantize lineage plus a failed benchmark."""
    url = _url(tmp_path, "device.sqlite")
    weights, onnx_file = tmp_path / "w.pth", tmp_path / "m.onnx"
    weights.write_bytes(b"weights")
    onnx_file.write_bytes(b"graph")
    history = History.open(url)
    with history.record("train", {"epochs": 2}) as train:
        train.metric("loss", 3.0, epoch=1)
        train.metric("mAP", 0.42)
        train.metric("ap", 0.5, class_name="Zebra")
        train.artifact(weights)
    with history.record("export", {"opset": 17}) as export:
        export.artifact(weights, kind="input")
        export.artifact(onnx_file, precision="fp32")
    with history.record("quantize", {}, parent_id=export.id) as quantize:
        quantize.metric("size_ratio", 0.26)
    with pytest.raises(RuntimeError):
        with history.record("benchmark", {}):
            raise RuntimeError("no GPU")
    history.close()
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
    with History.open(local) as history, history.record("evaluate", {}):
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


GOOD = {"uuid": "00000000-0000-0000-0000-000000000001", "kind": "train", "status": "succeeded",
        "started_at": "2025-01-01T00:00:00+00:00", "params": {"epochs": 2}, "environment": {"host": "lab"},
        "metrics": [{"name": "mAP", "value": 0.5}],
        "artifacts": [{"kind": "output", "path": "/m/a.pth", "sha256": "0" * 64, "bytes": 10}]}


def _with(**changes) -> str:
    return json.dumps({**GOOD, "uuid": "00000000-0000-0000-0000-000000000002", **changes})


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


BAD_LINES = {
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "nests deeper than 32 levels"),
    "deep params": (_with(params=_nested(40)), "params nests 40 levels deep (at most 32)"),
    "not JSON": ('{"uuid": ', "not a JSON run record"),
    "an array": ("[1, 2]", "a run record must be a JSON object, not an array"),
    "metric value text": (_with(metrics=[{"name": "mAP", "value": "abc"}]),
                          "metric 1 value must be a number, not the text 'abc'"),
    "metric value object": (_with(metrics=[{"name": "mAP", "value": {"a": 1}}]),
                            "metric 1 value must be a number, not an object"),
    "metric value true": (_with(metrics=[{"name": "mAP", "value": True}]), "metric 1 value must be a number, not true"),
    "metric value NaN": (_with(metrics=[{"name": "mAP", "value": float("nan")}]), "metric 1 value is NaN"),
    "metric value huge": (_with(metrics=[{"name": "mAP", "value": 10**400}]), "too large for a float"),
    "metric an object": (_with(metrics=[{"name": "mAP", "value": 1}, 5]), "metric 2 must be an object, not 5"),
    "metrics an object": (_with(metrics={"mAP": 1}), "metrics must be an array, not an object"),
    "metric without name": (_with(metrics=[{"value": 1}]), "metric 1 name is missing"),
    "metric epoch text": (_with(metrics=[{"name": "loss", "value": 1, "epoch": "x"}]),
                          "metric 1 epoch must be a whole number, not the text 'x'"),
    "metric epoch huge": (_with(metrics=[{"name": "loss", "value": 1, "epoch": 2**40}]),
                          "metric 1 epoch must lie between"),
    "metric unknown field": (_with(metrics=[{"name": "loss", "value": 1, "step": 3}]),
                             "metric 1 has unknown field(s) 'step'"),
    "error an object": (_with(status="failed", error={"a": 1}), "error must be text, not an object"),
    "status unknown": (_with(status="done"), "unknown status the text 'done'"),
    "uuid too long": (_with(uuid="u" * 37), "uuid is 37 characters long (at most 36)"),
    "uuid a number": (_with(uuid=7), "uuid must be text, not 7"),
    "kind too long": (_with(kind="k" * 65), "kind is 65 characters long (at most 64)"),
    "host with NUL": (_with(host="lab\x00"), "host contains a NUL character"),
    "parent_uuid an object": (_with(parent_uuid={"a": 1}), "parent_uuid must be text, not an object"),
    "pid text": (_with(pid="x"), "pid must be a whole number, not the text 'x'"),
    "pid negative": (_with(pid=-1), "pid must lie between 0 and"),
    "started_at a number": (_with(started_at=5), "started_at must be an ISO date-time text, not 5"),
    "finished_at not a date": (_with(finished_at="yesterday"), "finished_at is not an ISO date-time"),
    "finished_at out of range": (_with(finished_at="0001-01-01T00:00:00+05:00"), "finished_at is not an ISO"),
    "missing fields": (json.dumps({"uuid": "x"}), "the run record lacks kind, status, started_at"),
    "unknown field": (_with(archived=True), "the run record has unknown field(s) 'archived'"),
    "params an array": (_with(params=[1, 2]), "params must be an object, not an array"),
    "params too big": (_with(params={"note": "x" * 70_000}), "params is 70012 characters of JSON (at most 65536)"),
    "environment with NaN": (_with(environment={"x": float("nan")}), "environment contains NaN or Infinity"),
    "artifact bytes negative": (_with(artifacts=[{**GOOD["artifacts"][0], "bytes": -1}]),
                                "artifact 1 bytes must lie between 0 and"),
    "artifact without path": (_with(artifacts=[{"kind": "output", "sha256": "0" * 64, "bytes": 1}]),
                              "artifact 1 path is missing"),
    "artifact bytes text": (_with(artifacts=[{**GOOD["artifacts"][0], "bytes": "10"}]),
                            "artifact 1 bytes must be a whole number, not the text '10'"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_cli_import_of_a_bad_line_is_one_line_exit_2_and_imports_nothing(case: str, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    line, message = BAD_LINES[case]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(GOOD) + "\n\n" + line + "\n")  # a good run first: the file is all or nothing
    url = _url(tmp_path, "history.sqlite")
    assert main(["runs", "--db-url", url, "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {bad}:3: ") and message in err, err
    assert err.rstrip().endswith("nothing was imported (a file is imported whole or not at all)")
    assert main(["runs", "--db-url", url, "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_import_bounds_the_line_length_before_parsing(monkeypatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from core.ledger import transfer

    monkeypatch.setattr(transfer, "MAX_LINE_CHARS", 1000)
    bad = tmp_path / "long.jsonl"
    bad.write_text(json.dumps(GOOD) + "\n" + _with(params={"note": "x" * 2000}) + "\n")
    assert main(["runs", "--db-url", _url(tmp_path, "h.sqlite"), "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bad}:2: the line is longer than 1000 characters" in err


def test_cli_import_of_a_file_that_is_not_text_is_one_line(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "binary.jsonl"
    bad.write_bytes(b"\xff\xfe\x00")
    assert main(["runs", "--db-url", _url(tmp_path, "h.sqlite"), "import", str(bad)]) == 2
    assert main(["runs", "--db-url", _url(tmp_path, "h.sqlite"), "import", str(tmp_path)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and errors[0].startswith(f"error: cannot read {bad}") and "is not a file" in errors[1]


def test_deeply_nested_import_in_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "deep.jsonl"
    bad.write_text("{" + '"a":{' * 200_000 + "}" * 200_001 + "\n")
    completed = subprocess.run([sys.executable, "-m", "core", "runs", "--db-url", _url(tmp_path, "h.sqlite"),
                                "import", str(bad)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
    assert f"{bad}:1: the record nests deeper than 32 levels" in completed.stderr
