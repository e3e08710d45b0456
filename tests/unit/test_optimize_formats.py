"""The targets table carries its builders and references: each row names the builder that makes its artifact, the
options that builder reads (recorded in the run's params) and the FP32 row it is compared with."""
from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.errors import UserError
from core.optimize.builders import CALIBRATION_OPTIONS, BuildJob, Builder, builder, run_checkpoint
from core.optimize.formats import TARGETS, TARGETS_BY_NAME


def test_each_reference_is_the_fp32_row_of_its_own_backend_and_comes_first():
    order = [target.name for target in TARGETS]
    for target in TARGETS:
        reference = TARGETS_BY_NAME[target.reference]
        assert (reference.backend, reference.precision) == (target.backend, "fp32"), target.name
        assert order.index(reference.name) <= order.index(target.name)
        assert target.is_reference == (target.precision == "fp32")
        assert target.parent is None or order.index(target.parent) < order.index(target.name)


def test_each_row_names_its_builder_and_the_options_it_records():
    builders = {target.name: target.builder.name for target in TARGETS}
    assert builders == {"torch-fp32": "run_checkpoint", "torch-fp16": "run_checkpoint", "torch-bf16": "run_checkpoint",
                        "ort-fp32": "export_onnx_graph", "ort-int8": "quantize_onnx_int8",
                        "trt-fp32": "build_tensorrt_engine", "trt-fp16": "build_tensorrt_engine",
                        "trt-int8": "build_tensorrt_int8_engine"}
    for target in TARGETS:
        expected = CALIBRATION_OPTIONS if target.precision == "int8" else ("opset",) if target.name == "ort-fp32" else ()
        assert target.builder.options == expected, target.name


def _job(target_name: str, source: Path) -> BuildJob:
    config = SimpleNamespace(output=source.parent / "out")
    return BuildJob(TARGETS_BY_NAME[target_name], source, config, [], run=None)  # type: ignore[arg-type]


def test_torch_rows_run_the_checkpoint_itself(tmp_path):
    weights = tmp_path / "model.pth"
    assert run_checkpoint(_job("torch-fp16", weights)) == weights
    assert _job("ort-int8", weights).output == tmp_path / "out" / "model-ort-int8.onnx"


def test_a_builder_is_timed_and_its_failure_reaches_the_run_unchanged(tmp_path, caplog):
    @builder("opset")
    def failing(job: BuildJob) -> Path:
        raise UserError("the graph is broken")

    assert isinstance(failing, Builder) and failing.options == ("opset",)
    with caplog.at_level(logging.INFO, logger="core.optimize.builders"), pytest.raises(UserError, match="broken"):
        failing(_job("ort-fp32", tmp_path / "model.pth"))
    assert "ort-fp32: failing failed after" in caplog.text
    with caplog.at_level(logging.INFO, logger="core.optimize.builders"):
        run_checkpoint(_job("torch-fp32", tmp_path / "model.pth"))
    assert "torch-fp32: run_checkpoint took" in caplog.text
