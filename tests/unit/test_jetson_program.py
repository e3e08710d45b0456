"""The Jetson program (jetson_kit/) under each JetPack's real CPython (3.6, 3.8, 3.10) with that JetPack's numpy and a
fake TensorRT of that JetPack's version (7.1, 8.5, 10.3), CUDA through a fake pycuda or a fake libcudart (ctypes).

The fakes model each version's API surface (a call a version lacks raises AttributeError), read the bundle's real
ONNX graph, refuse an INT8 calibrator whose batch differs from the calibration profile's opt batch, and compute each
output value from its image's mean input, so these tests check the data path (layout, normalization, batching,
padding, output order) as well as the API paths. The fake CUDA libraries report what is still allocated at exit.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.gst.jetson_sender import preset_options, sender_command
from jetson_kit.train_time import epoch_times
from tests.jetson_envs import ENVIRONMENTS, FAKES, REPO_ROOT
from tests.jetson_helpers import build_fake_cudart, make_bundle, metrics_of, read_runs, run_program

pytestmark = pytest.mark.timeout(600)
ENV_NAMES = list(ENVIRONMENTS)
NO_LEAKS = {"device_buffers": 0, "pinned_buffers": 0, "streams": 0}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("jetson-bundle"))


@pytest.fixture(scope="module")
def cudart(tmp_path_factory) -> Path:
    return build_fake_cudart(tmp_path_factory.mktemp("fake-cudart"))


def expected_outputs(bundle: Path, count: int) -> np.ndarray:
    """What the fake engines output for each evaluation image: the mean of its normalized pixels (scores) and that
    plus one (boxes); see tests/jetson_fakes/shared/fake_trt_core.py."""
    pixels = np.load(bundle / "evaluation.npy").astype(np.float32)
    normalized = (pixels - np.float32(127.0)) / np.float32(128.0)
    return normalized.reshape(count, -1).mean(axis=1, dtype=np.float64).astype(np.float32)


@pytest.mark.parametrize("cuda", ["pycuda", "cudart"])
@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_build_bench_eval_under_each_jetpack(env_name: str, cuda: str, bundle: Path, cudart: Path,
                                             tmp_path: Path) -> None:
    env = ENVIRONMENTS[env_name]
    out = tmp_path / "out"
    arguments = ["all", "--bundle", str(bundle), "--out", str(out), "--warmup", "1", "--repeats", "5",
                 "--iterations", "2"]
    done = run_program(env, arguments, work=tmp_path, cuda=cuda, cudart=cudart).check()
    assert done.leaks == {**NO_LEAKS, **({"contexts": 0} if cuda == "pycuda" else {})}  # close() releases all
    manifest = (out / "manifest.json").read_text()
    with zipfile.ZipFile(out / "results.zip") as archive:  # what the server's Runs page imports
        assert {"runs.jsonl", "manifest.json", "ground-truth.json", "eval/trt-int8.npz"} <= set(archive.namelist())
    runs = read_runs(out)
    assert [run["params"]["target"] for run in runs] == ["trt-fp32", "trt-fp16", "trt-int8"]
    for run in runs:
        assert run["status"] == "succeeded" and run["kind"] == "optimize", run["error"]
        assert run["parent_uuid"] and run["parent_uuid"] in manifest  # the bundle's export run
        assert run["params"]["tensorrt_version"].startswith({"trt71": "7.1", "trt85": "8.5", "trt103": "10."}[
            env.tensorrt])
        assert run["environment"]["libraries"]["numpy"] == env.numpy
        assert run["environment"]["python"].startswith(env.python)
        metrics = metrics_of(run)
        assert {"latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "throughput_b1", "throughput_b4",
                "model_bytes", "eval_images"} <= set(metrics)
        assert metrics["latency_samples"] == 5 and metrics["eval_images"] == 4
        engines = [item for item in run["artifacts"] if item["format"] == "engine"]
        profiles = sorted(re.search(r"-b(\d+-\d+-\d+)-[0-9a-f]{12}\.engine$", item["path"]).group(1)
                          for item in engines)
        # TensorRT 7 builds one engine per batch size from the fixed-batch graphs, later ones one dynamic engine
        assert profiles == (["1-1-1", "4-4-4"] if env.tensorrt == "trt71" else ["1-4-4"])
        with np.load(out / run["params"]["eval_outputs"]) as outputs:
            means = expected_outputs(bundle, 4)
            assert [str(image_id) for image_id in outputs["image_ids"]] == read_ids(bundle)
            np.testing.assert_allclose(outputs["scores"][:, 0, 0], means, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(outputs["boxes"][:, -1, -1], means + 1, rtol=1e-6, atol=1e-6)
            assert outputs["scores"].shape == (4, 3000, 8) and outputs["boxes"].shape == (4, 3000, 4)


def read_ids(bundle: Path) -> list[str]:
    return json.loads((bundle / "manifest.json").read_text())["evaluation"]["ids"]


def test_engines_are_reused_and_int8_calibrates_at_the_profiles_opt_batch(bundle: Path, cudart: Path,
                                                                          tmp_path: Path) -> None:
    env = ENVIRONMENTS["jetpack-6.1"]
    out = tmp_path / "out"
    first = run_program(env, ["build", "--bundle", str(bundle), "--out", str(out)], work=tmp_path, cuda="cudart",
                        cudart=cudart).check()
    assert "reusing" not in first.stderr
    cache = next((out / "engines").glob("*.calib")).read_text()
    assert '"batches": 2' in cache  # 6 calibration images in batches of the opt batch, 4: the last one completed
    again = run_program(env, ["build", "--bundle", str(bundle), "--out", str(out)], work=tmp_path, cuda="cudart",
                        cudart=cudart).check()
    assert again.stderr.count("reusing") == 3
    assert [run["status"] for run in read_runs(out)] == ["succeeded"] * 3  # the same three runs, not new ones


def test_the_fakes_model_each_tensorrt_versions_api_surface(cudart: Path, tmp_path: Path) -> None:
    probe = ("import tensorrt as trt\n"
             "b = trt.Builder(trt.Logger())\n"
             "c = b.create_builder_config()\n"
             "print(hasattr(b, 'build_serialized_network'), hasattr(b, 'build_engine'),\n"
             "      hasattr(trt.ICudaEngine, 'num_io_tensors'), hasattr(trt.ICudaEngine, 'num_bindings'),\n"
             "      hasattr(c, 'set_memory_pool_limit'))\n"
             "try:\n"
             "    c.max_workspace_size = 1 << 20\n"
             "    print('workspace-attribute')\n"
             "except AttributeError:\n"
             "    print('no-workspace-attribute')\n"
             "try:\n"
             "    trt.nptype(trt.DataType.BOOL)\n"
             "    print('nptype-works')\n"
             "except AttributeError:\n"
             "    print('nptype-broken')\n")
    found = {name: run_program(env, [], work=tmp_path, cuda="cudart", cudart=cudart, script=probe).check().stdout
             for name, env in ENVIRONMENTS.items()}
    assert found["jetpack-4.4"].split() == ["False", "True", "False", "True", "False", "workspace-attribute",
                                            "nptype-works"]
    assert found["jetpack-5.1"].split() == ["True", "True", "True", "True", "True", "workspace-attribute",
                                            "nptype-works"]
    # the same TensorRT 8.5 after `pip3 install -U numpy`: TensorRT's own nptype fails, the program does not
    assert found["jetpack-5.1-numpy1.24"].split()[-1] == "nptype-broken"
    assert found["jetpack-6.1"].split() == ["True", "False", "True", "False", "True", "no-workspace-attribute",
                                            "nptype-works"]


CALIBRATION_PROBE = """
import numpy as np
import tensorrt as trt
from jetson_kit import tensorrt_api
from jetson_kit.cuda import open_gpu
from jetson_kit.errors import KitError

gpu = open_gpu("cudart")
logger = trt.Logger()
onnx = open({onnx!r}, "rb").read()
def feed(batch):
    samples = (np.zeros((3, 300, 300), np.float32) for _ in range(8))
    return tensorrt_api.CalibrationFeed(tensorrt_api.fixed_batches(samples, batch), batch, (3, 300, 300),
                                        {cache!r} + str(batch), gpu.alloc, gpu.upload_now)
# the program's own check: a calibrator of batch 4 for a profile whose opt batch is 8
wrong = feed(4)
try:
    tensorrt_api.build_serialized(trt, logger, onnx, "model.onnx", "input_0", "int8", [1, 8], (3, 300, 300),
                                  tensorrt_api.entropy_calibrator(trt, wrong))
except KitError as error:
    print("program refuses:", error)
# the fake TensorRT's own check, reached by going around the program's
builder = trt.Builder(logger)
network = builder.create_network(tensorrt_api.network_flags(trt))
parser = tensorrt_api.parse_onnx(trt, network, logger, onnx, "model.onnx")
config = tensorrt_api.configure(trt, builder, "input_0", "fp32", tensorrt_api.profile_shapes([1, 8], (3, 300, 300)))
config.set_flag(trt.BuilderFlag.INT8)
config.int8_calibrator = tensorrt_api.entropy_calibrator(trt, wrong)
print("tensorrt builds:", tensorrt_api.serialize_network(builder, network, config) is not None)
right = feed(8)
print("opt batch builds:", tensorrt_api.build_serialized(trt, logger, onnx, "model.onnx", "input_0", "int8", [1, 8],
      (3, 300, 300), tensorrt_api.entropy_calibrator(trt, right)) is not None, right.batches_fed)
wrong.close()
right.close()
"""


@pytest.mark.parametrize("env_name", ["jetpack-4.4", "jetpack-6.1"])
def test_int8_calibration_batch_must_equal_the_profiles_opt_batch(env_name: str, bundle: Path, cudart: Path,
                                                                   tmp_path: Path) -> None:
    script = CALIBRATION_PROBE.format(onnx=str(bundle / "model.onnx"), cache=str(tmp_path / "calib-"))
    done = run_program(ENVIRONMENTS[env_name], [], work=tmp_path, cuda="cudart", cudart=cudart,
                       script=script).check()
    lines = done.stdout.splitlines()
    assert lines[0].startswith("program refuses: the calibrator's batch 4 differs from the calibration profile's "
                               "opt batch 8")
    assert lines[1] == "tensorrt builds: False" and "differs from the calibration profile's opt shape" in done.stderr
    assert lines[2] == "opt batch builds: True 1"
    assert done.leaks == NO_LEAKS


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_check_names_versions_and_apis(env_name: str, bundle: Path, cudart: Path, tmp_path: Path) -> None:
    env = ENVIRONMENTS[env_name]
    done = run_program(env, ["check", "--bundle", str(bundle)], work=tmp_path, cuda="cudart", cudart=cudart).check()
    assert f"numpy: {env.numpy}" in done.stdout and "cuda: Fake GPU (libcudart) through cudart" in done.stdout
    assert "bundle: 3 targets, 6 calibration and 4 evaluation images, all files match" in done.stdout
    api = {"trt71": "builds with build_engine, runs with bindings",
           "trt85": "builds with build_serialized_network, runs with named tensors",
           "trt103": "builds with build_serialized_network, runs with named tensors"}[env.tensorrt]
    assert api in done.stdout
    assert ("trt.nptype of TensorRT 8.5.2.2 fails with numpy 1.24.4" in done.stdout) == (
        env.name == "jetpack-5.1-numpy1.24")


def test_check_says_what_is_missing(cudart: Path, tmp_path: Path) -> None:
    env = ENVIRONMENTS["jetpack-4.4"]
    done = run_program(env, ["check"], work=tmp_path, cuda="cudart", cudart=cudart,
                       extra_env={"PYTHONPATH": str(REPO_ROOT)})  # no numpy, no tensorrt on the path
    assert done.returncode == 1 and "missing: numpy" in done.stdout
    no_trt = run_program(env, ["check"], work=tmp_path, cuda="cudart", cudart=cudart,
                         extra_env={"LD_LIBRARY_PATH": str(tmp_path / "nothing")})
    assert no_trt.returncode == 1 and "missing: CUDA for this program" in no_trt.stdout


def test_a_bad_bundle_is_one_line_exit_2(bundle: Path, cudart: Path, tmp_path: Path) -> None:
    env = ENVIRONMENTS["jetpack-5.1"]
    done = run_program(env, ["build", "--bundle", str(tmp_path)], work=tmp_path, cuda="cudart", cudart=cudart)
    assert done.returncode == 2 and "is not a bundle" in done.stderr and "Traceback" not in done.stderr
    copy = tmp_path / "copy"
    copy.mkdir()
    for item in bundle.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    (copy / "evaluation.npy").write_bytes(b"truncated")
    done = run_program(env, ["eval", "--bundle", str(copy), "--out", str(tmp_path / "o")], work=tmp_path,
                       cuda="cudart", cudart=cudart)
    assert done.returncode == 2 and "evaluation.npy in the bundle does not match its manifest" in done.stderr


def test_train_time_times_pytorch_ssd_training(tmp_path: Path, cudart: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = ENVIRONMENTS["jetpack-4.4"]
    arguments = ["train-time", "--ssd-dir", str(FAKES / "ssd"), "--data", str(data), "--epochs", "4", "--out",
                 str(tmp_path / "out")]
    done = run_program(env, arguments, work=tmp_path, cuda="cudart", cudart=cudart).check()
    assert "images/sec" in done.stdout
    (run,) = read_runs(tmp_path / "out")
    assert run["kind"] == "train" and run["status"] == "succeeded"
    metrics = metrics_of(run)
    assert metrics["train_images"] == 12
    assert metrics["images_per_sec"] * metrics["epoch_seconds"] == pytest.approx(12)
    assert sorted(item["epoch"] for item in run["metrics"] if item["name"] == "epoch_seconds"
                  and item["epoch"] is not None) == [1, 2]  # epoch 0 and the last end with validation
    assert "--validation-epochs 5" in " ".join(run["params"]["command"])
    short = run_program(env, [*arguments[:5], "--epochs", "2"], work=tmp_path, cuda="cudart", cudart=cudart)
    assert short.returncode == 2 and "--epochs must be at least 3" in short.stderr


def test_epoch_times_come_from_consecutive_first_step_lines() -> None:
    log = [(0.0, "2026-01-01 00:00:00 - Train dataset size: 100"), (1.0, "Epoch: 0, Step: 1/25, Avg Loss: 1"),
           (9.0, "Epoch: 0, Validation Loss: 2"), (10.0, "Epoch: 1, Step: 1/25, Avg Loss: 1"),
           (14.0, "Epoch: 1, Step: 2/25, Avg Loss: 1"), (30.0, "Epoch: 2, Step: 1/25, Avg Loss: 1"),
           (50.0, "Epoch: 3, Step: 1/25, Avg Loss: 1"), (60.0, "Epoch: 3, Validation Loss: 2")]
    assert epoch_times(log) == (100, {1: 20.0, 2: 20.0})


def test_stream_runs_the_servers_sender_command(bundle: Path, cudart: Path, tmp_path: Path) -> None:
    arguments_file = tmp_path / "gst-arguments.txt"
    extra = {"PATH": f"{FAKES / 'bin'}:{os.environ['PATH']}", "FAKE_GST_ARGS": str(arguments_file)}
    env = ENVIRONMENTS["jetpack-5.1"]
    done = run_program(env, ["stream", "--bundle", str(bundle), "--jetpack", "5", "--seconds", "1"], work=tmp_path,
                       cuda="cudart", cudart=cudart, extra_env=extra).check()
    expected = sender_command(preset_options("jetpack5-usb-h265", "192.168.1.10", port=5000, camera="/dev/video0"))
    assert arguments_file.read_text().splitlines() == shlex.split(expected)[1:]
    assert "idrinterval=30" in expected and "insert-sps-pps=1" in expected
    assert shlex.split(done.stdout.splitlines()[0]) == shlex.split(expected)
    moved = run_program(env, ["stream", "--bundle", str(bundle), "--jetpack", "4", "--host", "10.0.0.7", "--port",
                              "5002", "--dry-run"], work=tmp_path, cuda="cudart", cudart=cudart).check()
    jetpack4 = sender_command(preset_options("jetpack4-usb-h265", "10.0.0.7", port=5002, camera="/dev/video0"))
    assert shlex.split(moved.stdout.strip()) == shlex.split(jetpack4)


def test_jetson_script_runs_the_program_with_the_chosen_python(bundle: Path, cudart: Path, tmp_path: Path) -> None:
    from tests.jetson_envs import python_path, require

    env = ENVIRONMENTS["jetpack-4.4"]
    variables = {**os.environ, "PYTHON": str(require(env)), "PYTHONPATH": python_path(env, pycuda=False),
                 "LD_LIBRARY_PATH": str(cudart.parent)}
    done = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "jetson.sh"), "check", "--bundle", str(bundle)],
                          capture_output=True, text=True, env=variables, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "python: 3.6." in done.stdout and "tensorrt: 7.1.3" in done.stdout
    missing = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "jetson.sh"), "check"], capture_output=True,
                             text=True, env={**variables, "PYTHON": "no-such-python3"}, timeout=60, check=False)
    assert missing.returncode == 2 and "no-such-python3 not found" in missing.stderr
