"""`python -m core export-onnx` records an `export` run: the .pth and labels as inputs, the .onnx as output."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from core.cli import main
from core.ledger import History
from tests.history_helpers import recorded_run, recorded_runs


@pytest.mark.timeout(300)
def test_export_onnx_records_a_run_linked_to_the_run_that_wrote_the_weights(
    random_model: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    weights, labels = random_model
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    monkeypatch.setenv("EDS_DB_URL", url)
    with History.open(url) as history, history.record("train", {"epochs": 0}) as train:
        train.artifact(weights, precision="fp32")
    output = tmp_path / "out" / "model.onnx"
    assert main(["export-onnx", "--weights", str(weights), "--labels", str(labels), "--output", str(output)]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]

    run = recorded_run(run_id, url)
    assert (run.kind, run.status, run.parent_id) == ("export", "succeeded", train.id)
    assert run.params["weights"] == str(weights) and run.params["batch_size"] == 1
    artifacts = {(a.kind, a.format): a for a in run.artifacts}
    assert set(artifacts) == {("input", "pth"), ("input", "labels"), ("output", "onnx")}
    onnx_artifact = artifacts["output", "onnx"]
    assert onnx_artifact.path == str(output.resolve()) and onnx_artifact.precision == "fp32"
    assert onnx_artifact.sha256 == hashlib.sha256(output.read_bytes()).hexdigest()
    assert onnx_artifact.bytes == output.stat().st_size
    assert artifacts["input", "pth"].sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()


@pytest.mark.timeout(120)
def test_failed_export_is_recorded_as_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    monkeypatch.setenv("EDS_DB_URL", url)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    labels = tmp_path / "labels.txt"
    labels.write_text("BACKGROUND\nZebra\n")
    assert main(["export-onnx", "--weights", str(broken), "--labels", str(labels)]) == 2
    [run] = recorded_runs(url)
    assert run.kind == "export" and run.status == "failed" and run.error
