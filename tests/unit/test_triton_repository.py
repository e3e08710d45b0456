"""export-triton: a model repository whose config.pbtxt Triton's own protobuf parses and whose tensors match the ONNX."""
from __future__ import annotations

import json

import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from core.cli import main
from core.errors import UserError
from core.model.triton_repository import config_text
from tests.history_helpers import recorded_run

pytestmark = pytest.mark.timeout(120)


def parse_config(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def onnx_tensors(path) -> dict[str, list]:
    model = onnx.load(str(path), load_external_data=False)
    return {value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
            for value in [*model.graph.input, *model.graph.output]}


def test_export_triton_writes_a_repository_triton_parses(random_model, tmp_path, capsys):
    weights, labels = random_model
    repository = tmp_path / "model_repository"
    assert main(["export-triton", "--weights", str(weights), "--labels", str(labels), "--output", str(repository),
                 "--max-batch", "16", "--queue-delay-us", "500"]) == 0
    printed = json.loads(capsys.readouterr().out)
    config = parse_config((repository / "ssd" / "config.pbtxt").read_text())
    assert config.name == "ssd" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 16
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert config.parameters["precision"].string_value == "fp32"
    tensors = onnx_tensors(repository / "ssd" / "1" / "model.onnx")
    configured = {tensor.name: tensor for tensor in [*config.input, *config.output]}
    assert list(configured) == ["input_0", "scores", "boxes"] and set(configured) == set(tensors)
    for name, tensor in configured.items():
        assert tensor.data_type == model_config_pb2.TYPE_FP32
        assert tensors[name][0] == "batch" and list(tensor.dims) == tensors[name][1:]  # Triton adds the batch axis
    assert list(configured["scores"].dims) == [3000, 8]
    assert "tritonserver --model-repository=/models" in printed["serve"] and str(repository.resolve()) in printed["serve"]
    assert not list(repository.rglob("*.tmp"))

    run = recorded_run(printed["run_id"])
    assert run.kind == "export" and run.status == "succeeded" and run.params["format"] == "onnx"
    outputs = {artifact.format: artifact for artifact in run.artifacts if artifact.kind == "output"}
    assert set(outputs) == {"onnx", "pbtxt"} and all(len(a.sha256) == 64 for a in outputs.values())


def test_tensorrt_plan_config_and_refusals():
    config = parse_config(config_text(model_format="tensorrt", num_classes=21, precision="fp16"))
    assert config.platform == "tensorrt_plan" and list(config.output[0].dims) == [3000, 21]
    assert config.parameters["precision"].string_value == "fp16"
    with pytest.raises(UserError, match="max batch"):
        config_text(model_format="onnx", num_classes=8, max_batch_size=0)
    with pytest.raises(UserError, match="model name"):
        config_text(model_format="onnx", num_classes=8, model_name="a b")


def test_tensorrt_format_without_tensorrt_says_so_in_one_line(random_model, tmp_path, capsys):
    weights, labels = random_model
    code = main(["export-triton", "--weights", str(weights), "--labels", str(labels), "--output",
                 str(tmp_path / "repo"), "--format", "tensorrt"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("error: ") and "\n" not in error and "TensorRT" in error
    assert not (tmp_path / "repo" / "ssd" / "1" / "model.plan").exists()


def test_command_offers_every_format_the_library_writes(capsys):
    from core.cli import main
    from core.model import triton_repository

    assert main(["export-triton", "--format", "plan", "--weights", "w.pth", "--labels", "l.txt", "--output", "x"]) == 2
    refusal = capsys.readouterr().err
    assert all(f"'{name}'" in refusal for name in triton_repository.MODEL_FORMATS), refusal
