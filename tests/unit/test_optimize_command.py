"""`python -m core optimize` end to end on a tiny dataset (onnxruntime targets), `report optimize`, and the device
each target runs on. The other model commands' precision refusals are with their own tests (detect, evaluate,
receive)."""
from __future__ import annotations

import pytest

from core.cli import main
from core.files.digest import file_sha256
from core.optimize import formats
from core.optimize.formats import TARGETS_BY_NAME
from core.optimize.pipeline import target_device
from tests.history_helpers import recorded_runs
from tests.unit.conftest import DEMO_LABELS, DEMO_WEIGHTS

pytestmark = pytest.mark.timeout(240)


@pytest.fixture()
def ledger(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("EDS_DB_URL", url)
    monkeypatch.setenv("EDS_DATA_ROOT", str(tmp_path / "root"))
    return url


def _runs(url: str) -> dict[str, object]:
    return {run.params["target"]: run for run in recorded_runs(url, kind="optimize")}


def test_optimize_records_one_chained_run_per_target(tiny_dataset, ledger, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(formats, "cuda_available", lambda: False)
    output = tmp_path / "artifacts"
    code = main(["optimize", "--weights", str(DEMO_WEIGHTS), "--labels", str(DEMO_LABELS), "--data", str(tiny_dataset),
                 "--targets", "ort-int8,torch-fp16", "--calib-images", "50", "--batch-sizes", "1,2",
                 "--repeats", "2", "--output", str(output), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    runs = _runs(ledger)
    assert set(runs) == {"torch-fp32", "ort-fp32", "ort-int8"}
    assert {run.status for run in runs.values()} == {"succeeded"}
    assert len({run.params["optimize_id"] for run in runs.values()}) == 1
    assert runs["torch-fp32"].parent_id is None
    assert runs["ort-fp32"].parent_id == runs["torch-fp32"].id
    assert runs["ort-int8"].parent_id == runs["ort-fp32"].id
    assert {name: run.params["reference"] for name, run in runs.items()} == {
        "torch-fp32": "torch-fp32", "ort-fp32": "ort-fp32", "ort-int8": "ort-fp32"}
    assert runs["ort-fp32"].params["opset"] is None and "calib_images" not in runs["ort-fp32"].params
    assert (runs["ort-int8"].params["calib_images"], runs["ort-int8"].params["calib_scope"]) == (50, "trunk")
    assert "opset" not in runs["ort-int8"].params and "opset" not in runs["torch-fp32"].params
    int8_file, fp32_file = output / "model-ort-int8.onnx", output / "model-ort-fp32.onnx"
    outputs = {run.params["target"]: [a for a in run.artifacts if a.kind == "output"] for run in runs.values()}
    assert [(a.precision, a.sha256) for a in outputs["ort-int8"]] == [("int8", file_sha256(int8_file))]
    assert [(a.precision, a.sha256) for a in outputs["ort-fp32"]] == [("fp32", file_sha256(fp32_file))]
    int8_inputs = [a.sha256 for a in runs["ort-int8"].artifacts if a.kind == "input"]
    assert file_sha256(fp32_file) in int8_inputs
    metrics = {m.name: m.value for m in runs["ort-int8"].metrics if m.class_name is None}
    assert metrics["latency_samples"] == 2 and "throughput_b2" in metrics and "end_to_end_640x480_ms" in metrics
    assert (metrics["calib_images_requested"], metrics["calib_images_used"], metrics["calib_images_corrupt"]) == (
        50, 16, 0)
    assert metrics["model_bytes"] == int8_file.stat().st_size
    for name in ("map50", "coco_map", "delta_map50", "delta_coco_map", "max_score_deviation", "max_box_deviation"):
        assert name in metrics
    per_class = {m.class_name for m in runs["ort-int8"].metrics if m.name == "delta_ap50"}
    assert per_class and None not in per_class
    assert "| torch-fp16 | skipped: no CUDA GPU |" in printed
    assert not list(output.glob(".*"))

    capsys.readouterr()
    assert main(["report", "optimize", "--run", str(runs["ort-int8"].id)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == ["torch-fp32", "ort-fp32", "ort-int8"]


def test_report_optimize_without_runs_is_a_user_error(ledger, capsys):
    assert main(["report", "optimize"]) == 2
    assert "no optimize runs" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "requested", "has_cuda", "expected"), [
    ("torch-fp32", "auto", True, "cuda"),  # the FP32 reference of the GPU targets runs on the same GPU
    ("torch-fp32", "auto", False, "cpu"),
    ("torch-fp32", "cpu", True, "cpu"),
    ("ort-fp32", "auto", True, "cpu"),
    ("ort-int8", "cuda", True, "cuda"),
    ("torch-fp16", "cpu", True, "cuda"),
])
def test_target_device(name, requested, has_cuda, expected):
    assert target_device(TARGETS_BY_NAME[name], requested, has_cuda=lambda: has_cuda) == expected
