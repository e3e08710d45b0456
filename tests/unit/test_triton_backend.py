"""The triton detector backend without a server: URL validation at the boundary, a one-line error when the server
is down, one shared gRPC client per server, the frames mode's padding contract, the server's frame checks, the batch
sizes a served torch model warms up, and the reason a PyTriton traceback gives."""
from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from core.cli import main
from core.config import parse_triton_url
from core.detect import Detections, DetectorSpec, load_detector
from core.detect.frame_outputs import pad_detections, unpad_detections
from core.detect.remote import RemoteClients
from core.detect.triton_backend import connect, server_error
from core.errors import UserError
from core.serve.names import FRAME_OUTPUTS, FRAMES_INPUT, PADDING_LABEL
from core.serve.tritonserver import library_path_with_libdir

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("url, target", [("grpc://127.0.0.1:8001", "127.0.0.1:8001"),
                                         ("grpc://gpu-server.lan:1/", "gpu-server.lan:1"),
                                         ("grpc://[::1]:65535", "[::1]:65535")])
def test_valid_urls(url, target):
    assert parse_triton_url(url) == target


@pytest.mark.parametrize("url", [None, "", "127.0.0.1:8001", "http://127.0.0.1:8000", "grpc://127.0.0.1",
                                 "grpc://127.0.0.1:0", "grpc://127.0.0.1:65536", "grpc://host:port",
                                 "grpc://127.0.0.1:8001/models/ssd", "grpc://u:p@127.0.0.1:8001", "grpc://:8001"])
def test_invalid_urls_are_one_line_errors(url):
    with pytest.raises(UserError, match="triton"):
        parse_triton_url(url)


def test_server_down_is_reported_quickly_and_in_one_line(random_model):
    weights, labels = random_model
    url = f"grpc://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(UserError, match=f"inference server unreachable at {url}: ") as raised:
        load_detector(DetectorSpec(weights, labels, backend="triton", triton_url=url))
    assert time.monotonic() - started < 5.0
    assert "\n" not in str(raised.value)


def test_one_client_per_server():
    clients = RemoteClients()
    assert clients.client("127.0.0.1:1", connect) is clients.client("127.0.0.1:1", connect)
    assert clients.client("127.0.0.1:1", connect) is not clients.client("127.0.0.1:2", connect)
    assert RemoteClients().client("127.0.0.1:1", connect) is not clients.client("127.0.0.1:1", connect)  # per owner
    clients.close()


def test_cli_needs_the_url(random_model, frames, tmp_path, capsys):
    from core.pictures.imageio import write_image

    weights, labels = random_model
    image = write_image(frames[0], tmp_path / "frame.png")
    code = main(["detect", "--weights", str(weights), "--labels", str(labels), "--image", str(image),
                 "--backend", "triton"])
    assert code == 2 and "--triton-url grpc://HOST:PORT" in capsys.readouterr().err


def test_libpython_goes_first_once():
    assert library_path_with_libdir("/opt/a:/py/lib:/opt/b", "/py/lib") == "/py/lib:/opt/a:/opt/b"
    assert library_path_with_libdir(None, "/py/lib") == "/py/lib"
    assert library_path_with_libdir("/opt/a", None) == "/opt/a"


def test_server_options_are_checked_at_the_boundary():
    from core.serve.server import ServerOptions

    assert ServerOptions().check().endpoints()["grpc"] == "grpc://127.0.0.1:8001"
    for bad in (dict(grpc_port=0), dict(metrics_port=70000), dict(http_port=8001), dict(max_batch=0),
                dict(queue_delay_us=-1), dict(model_name="a/b"), dict(instances=0)):
        with pytest.raises(UserError):
            ServerOptions(**bad).check()


def test_tritons_statistics_are_summed_over_the_models_versions():
    from core.serve.process import model_statistics

    def version(requests: int, executions: int, infer_ns: int) -> dict:
        stages = {stage: {"count": requests, "ns": 10 * requests}
                  for stage in ("success", "queue", "compute_input", "compute_output")}
        return {"inference_count": requests, "execution_count": executions,
                "inference_stats": {**stages, "compute_infer": {"count": requests, "ns": infer_ns}}}

    totals = model_statistics({"model_stats": [version(24, 10, 5000), version(3, 3, 700)]})
    assert (totals["inference_count"], totals["execution_count"]) == (27, 13)
    assert totals["compute_infer_ns"] == 5700 and totals["queue_ns"] == 270
    assert model_statistics({"model_stats": []})["inference_count"] == 0


def detections(count: int, first_label: int = 1) -> Detections:
    return Detections(np.arange(count * 4, dtype=np.float32).reshape(count, 4) + 0.5,
                      np.linspace(0.9, 0.5, count, dtype=np.float32),
                      np.arange(first_label, first_label + count, dtype=np.int64))


def test_padding_round_trips_and_pads_to_the_longest_frame():
    batch = [detections(3), Detections.empty(), detections(1, first_label=5)]
    outputs = pad_detections(batch)
    assert tuple(outputs) == FRAME_OUTPUTS
    assert outputs["boxes"].shape == (3, 3, 4) and outputs["scores"].shape == outputs["labels"].shape == (3, 3)
    assert outputs["labels"].dtype == outputs["count"].dtype == np.int32 and outputs["count"].tolist() == [[3], [0], [1]]
    assert outputs["labels"][1].tolist() == [PADDING_LABEL] * 3 and outputs["scores"][2, 1:].tolist() == [0, 0]
    for before, after in zip(batch, unpad_detections(outputs)):
        assert after.labels.dtype == np.int64 and after.boxes.dtype == after.scores.dtype == np.float32
        np.testing.assert_array_equal(after.boxes, before.boxes)
        np.testing.assert_array_equal(after.scores, before.scores)
        np.testing.assert_array_equal(after.labels, before.labels)


def test_a_batch_without_detections_still_has_one_padding_row():
    outputs = pad_detections([Detections.empty(), Detections.empty()])
    assert outputs["boxes"].shape == (2, 1, 4) and outputs["count"].tolist() == [[0], [0]]
    assert [len(found) for found in unpad_detections(outputs)] == [0, 0]


@pytest.mark.parametrize("counts", [[[4]], [[-1]], [[1], [1]]])
def test_malformed_frame_outputs_are_one_line_errors(counts):
    outputs = {**pad_detections([detections(2)]), "count": np.array(counts, np.int32)}
    with pytest.raises(UserError, match="malformed outputs"):
        unpad_detections(outputs)


def test_the_server_checks_frames_before_detecting():
    from core.serve.frames import check_frames

    check_frames(np.zeros((2, 480, 640, 3), np.uint8), max_pixels=640 * 480)
    for frames, message in [(np.zeros((1, 4, 4, 3), np.float32), "uint8"), (np.zeros((1, 4, 4, 4), np.uint8), "3"),
                            (np.zeros((1, 4, 4), np.uint8), "shape"), (np.zeros((1, 0, 4, 3), np.uint8), "empty"),
                            (np.zeros((1, 481, 640, 3), np.uint8), "640x481 = 0.3 MP is above")]:
        with pytest.raises(UserError, match=message):
            check_frames(frames, max_pixels=640 * 480)


def test_the_frames_model_runs_the_detector_on_the_whole_batch_and_pads():
    from core.serve.frames import FRAME_OUTPUT_TENSORS, frames_model

    class FakeDetector:
        backend, precision, device, score_threshold = "torch", "fp32", "cpu", 0.4
        seen: list[list[np.ndarray]] = []

        def detect(self, frames):
            self.seen.append(frames)
            return [detections(2), detections(1)]

    model = frames_model(FakeDetector(), max_pixels=100)
    assert [name for name, _, _ in model.inputs] == [FRAMES_INPUT]
    assert tuple(name for name, _, _ in FRAME_OUTPUT_TENSORS) == FRAME_OUTPUTS
    outputs = model.infer(frames=np.zeros((2, 5, 5, 3), np.uint8))
    assert len(FakeDetector.seen) == 1 and [frame.shape for frame in FakeDetector.seen[0]] == [(5, 5, 3)] * 2
    assert outputs["count"].tolist() == [[2], [1]] and "torch fp32 on cpu, score >= 0.4" in model.description
    with pytest.raises(UserError, match="above this server's limit"):
        model.infer(frames=np.zeros((1, 11, 10, 3), np.uint8))


class FakeServerError(Exception):
    def __init__(self, message: str, status: str = "StatusCode.INTERNAL") -> None:
        super().__init__(message)
        self._message, self._status = message, status

    def message(self) -> str:
        return self._message

    def status(self) -> str:
        return self._status


def test_a_pytriton_traceback_becomes_the_exception_it_reports():
    traceback = ("Failed to process the request(s) for model 'ssd_0_0', message: TritonModelException: Model execute "
                 "error: Traceback (most recent call last):\n  File \"model.py\", line 492, in execute\n"
                 "c_python_backend_utils.TritonModelException: Traceback (most recent call last):\n"
                 "    raise UserError(f\"frame of {width}x{height}\")\n"
                 "core.errors.UserError: frame of 5000x5000 = 25.0 MP is above this server's limit\n\n\nAt:\n"
                 "  model.py(501): execute\n")
    error = server_error("grpc://h:1", FakeServerError(traceback))
    assert str(error) == "inference server at grpc://h:1 failed: frame of 5000x5000 = 25.0 MP is above this server's limit"
    plain = server_error("grpc://h:1", FakeServerError("connection refused\nmore", "StatusCode.UNAVAILABLE"))
    assert str(plain) == "inference server unreachable at grpc://h:1: connection refused"


def test_serve_refuses_tensorrt_for_tensors_before_loading_anything(random_model, capsys):
    weights, labels = random_model
    code = main(["serve", "--weights", str(weights), "--labels", str(labels), "--input", "tensors",
                 "--backend", "tensorrt"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error == "error: --input tensors runs the network with torch or onnxruntime; tensorrt " \
        "serves --input frames"


def test_one_execution_batches_requests_of_one_shape_and_answers_each_in_order():
    from core.serve.models import BoundModel, run_requests

    calls: list[tuple[int, ...]] = []

    def infer(frames):
        calls.append(frames.shape)
        if frames.shape[1] == 9:
            raise UserError("frame too large")
        return {"count": frames[:, :1, 0, 0].astype(np.int32)}

    model = BoundModel(infer, (), (), "fake")
    requests = [{"frames": np.full((1, 4, 4, 3), value, np.uint8)} for value in (1, 2)]
    requests += [{"frames": np.full((2, 6, 4, 3), 3, np.uint8)}, {"frames": np.zeros((1, 9, 4, 3), np.uint8)},
                 {"frames": np.full((1, 4, 4, 3), 4, np.uint8)}]
    answers = run_requests(model, requests)
    assert sorted(calls) == [(1, 9, 4, 3), (2, 6, 4, 3), (3, 4, 4, 3)]  # one call per frame size
    assert [answer["count"].ravel().tolist() for answer in (answers[0], answers[1], answers[2], answers[4])] \
        == [[1], [2], [3, 3], [4]]
    assert isinstance(answers[3], UserError) and str(answers[3]) == "frame too large"


def test_the_served_config_is_what_tritons_own_protobuf_parses():
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    from core.serve.frames import FRAME_OUTPUT_TENSORS
    from core.serve.models import BoundModel
    from core.serve.repository import python_config_text

    model = BoundModel(None, ((FRAMES_INPUT, np.uint8, (-1, -1, 3)),), FRAME_OUTPUT_TENSORS, "fake")
    text = python_config_text(model_name="ssd", model=model, precision="int8", max_batch=16, queue_delay_us=500,
                              instances=3)
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert config.backend == "python" and config.max_batch_size == 16
    assert [(tensor.name, list(tensor.dims)) for tensor in config.input] == [("frames", [-1, -1, 3])]
    assert [tensor.name for tensor in config.output] == list(FRAME_OUTPUTS)
    assert config.output[2].data_type == model_config_pb2.TYPE_INT32
    assert config.instance_group[0].count == 3 and config.dynamic_batching.max_queue_delay_microseconds == 500
    assert config.parameters["precision"].string_value == "int8"


def test_the_model_spec_round_trips_and_is_checked():
    from core.serve.models import ModelSpec

    spec = ModelSpec("w.onnx", "labels.txt", backend="onnxruntime", threads=1, warmup_batch_sizes=(1, 8))
    assert ModelSpec.from_json(spec.to_json()) == spec
    for bad in (dict(input="pixels"), dict(input="tensors", backend="tensorrt"), dict(backend="triton"),
                dict(threads=0)):
        with pytest.raises(UserError):
            ModelSpec("w", "l", **bad).check()


@pytest.mark.parametrize("max_batch", [1, 32, 48])
def test_a_torch_server_warms_up_every_batch_size_its_batcher_can_form(max_batch):
    from core.cli import build_parser
    from core.commands.serve import _model_spec

    def spec(backend: str):
        return _model_spec(build_parser().parse_args(["serve", "--weights", "w", "--labels", "l", "--backend", backend,
                                                      "--max-batch", str(max_batch)]))

    assert spec("torch").warmup_batch_sizes == tuple(range(1, max_batch + 1))  # none is first met while serving
    assert spec("onnxruntime").warmup_batch_sizes == (1,)


def test_the_server_command_names_every_port_and_its_own_shared_memory(tmp_path):
    from core.serve.tritonserver import PROJECT_ROOT, TritonInstall, server_command, server_environment, shm_prefix

    install = TritonInstall(tmp_path / "bin/tritonserver", tmp_path / "backends", tmp_path / "libs", tmp_path / "stub")
    command = server_command(install, tmp_path / "models", tmp_path / "mine", grpc_port=1, http_port=2,
                             metrics_port=3, address="127.0.0.1", log_file=None, pid=42)
    assert command[0] == str(install.binary)
    for flag in ("--grpc-port=1", "--http-port=2", "--metrics-port=3", "--grpc-address=127.0.0.1",
                 f"--backend-directory={tmp_path / 'mine'}", f"--model-repository={tmp_path / 'models'}",
                 f"--backend-config=python,shm-region-prefix-name={shm_prefix(42)}"):
        assert flag in command
    env = server_environment(install, {"LD_LIBRARY_PATH": "/x"}, "/py/lib")
    assert env["LD_LIBRARY_PATH"] == f"/py/lib:/x:{tmp_path / 'libs'}"
    assert env["PYTHONPATH"] == str(PROJECT_ROOT)  # model.py imports `core`
