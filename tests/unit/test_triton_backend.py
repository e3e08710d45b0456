"""The triton detector backend without a server: URL validation at the boundary, a one-line error when the server
is down, and one shared gRPC client per server."""
from __future__ import annotations

import socket
import time

import pytest

from core.cli import main
from core.detect import DetectorSpec, load_detector
from core.detect.triton_backend import parse_triton_url, shared_client
from core.errors import UserError
from core.serve.libpython import library_path_with_libdir
from core.serve.numpy_bridge import ProxyMismatch, bridge_text

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
    assert shared_client("127.0.0.1:1") is shared_client("127.0.0.1:1")
    assert shared_client("127.0.0.1:1") is not shared_client("127.0.0.1:2")


def test_cli_needs_the_url(random_model, frames, tmp_path, capsys):
    from core.imageio import write_image

    weights, labels = random_model
    image = write_image(frames[0], tmp_path / "frame.png")
    code = main(["detect", "--weights", str(weights), "--labels", str(labels), "--image", str(image),
                 "--backend", "triton"])
    assert code == 2 and "--triton-url grpc://HOST:PORT" in capsys.readouterr().err


def test_libpython_goes_first_once():
    assert library_path_with_libdir("/opt/a:/py/lib:/opt/b", "/py/lib") == "/py/lib:/opt/a:/opt/b"
    assert library_path_with_libdir(None, "/py/lib") == "/py/lib"
    assert library_path_with_libdir("/opt/a", None) == "/opt/a"


def test_numpy_bridge_rewrites_both_conversions_or_refuses():
    proxy = ("request[input_name] = input_tensor.as_numpy()\n"
             "outputs = [pb_utils.Tensor(name, value) for name, value in casted.items()]\n")
    bridged = bridge_text(proxy)
    assert "as_numpy" not in bridged and "from_dlpack(input_tensor)" in bridged
    assert "pb_utils.Tensor.from_dlpack(name," in bridged
    with pytest.raises(ProxyMismatch):
        bridge_text(proxy.replace("as_numpy()", "numpy()"))


def test_server_options_are_checked_at_the_boundary():
    from core.serve.server import ServerOptions

    assert ServerOptions().check().endpoints()["grpc"] == "grpc://127.0.0.1:8001"
    for bad in (dict(grpc_port=0), dict(metrics_port=70000), dict(http_port=8001), dict(max_batch=0),
                dict(queue_delay_us=-1), dict(model_name="a/b")):
        with pytest.raises(UserError):
            ServerOptions(**bad).check()


def test_triton_counters_are_read_per_model():
    from core.serve.process import metric_total

    text = ('# HELP nv_inference_count Number of inferences\n'
            'nv_inference_count{model="ssd",version="1"} 24\n'
            'nv_inference_count{model="other",version="1"} 7\n'
            'nv_inference_exec_count{model="ssd",version="1"} 10\n')
    assert metric_total(text, "nv_inference_count", "ssd") == 24
    assert metric_total(text, "nv_inference_exec_count", "ssd") == 10
    assert metric_total(text, "nv_inference_count", "missing") == 0
