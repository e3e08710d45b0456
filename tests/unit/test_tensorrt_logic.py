"""The server's TensorRT path without TensorRT: engine cache keys, profiles, calibration batching and cache, engine IO
by name, and what the detector releases.

Small fakes stand in for `tensorrt` and `pycuda.driver`: a fake device memory with tracked page-locked arrays and
streams, a fake builder that drives the INT8 calibrator as TensorRT does (and, like TensorRT calibrating at the
calibration profile's opt shape, refuses a calibrator of another batch), and fake engines of both APIs (TensorRT 8
bindings, TensorRT 10 named tensors) whose outputs are computed from the bytes actually uploaded; their `nptype`
fails as TensorRT 8.5's does under numpy >= 1.24. Real-engine tests at the end skip where TensorRT is absent. The
Jetson program's own tests (test_jetson_program.py) run the shared code under each JetPack's Python.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from core.detect.base import DetectorSpec
from core.detect.preprocess import normalize_numpy, preprocess_batch
from core.detect.tensorrt_backend import EngineKey, TensorRtDetector, key_path, read_engine_key, stale_reason
from core.errors import UserError
from core.optimize import tensorrt_build
from core.optimize.quantize import CalibrationReport, ImageCalibrationReader
from core.optimize.tensorrt_build import batch_profile, build_engine, cached_engine, engine_path, profile_shapes
from core.optimize.tensorrt_calibrator import CalibrationBatches
from jetson_kit.tensorrt_api import (
    CalibrationFeed, batch_chunks, engine_io, network_flags, serialize_network, set_workspace,
)

CLASSES = 8
SIDE = 300


# ---------------------------------------------------------------- fake pycuda.driver


class FakeAllocation:
    def __init__(self, memory: dict[int, bytearray], size: int) -> None:
        self.address = 4096 * (len(memory) + 1)
        memory[self.address] = bytearray(size)
        self.memory, self.freed = memory, False

    def __int__(self) -> int:
        return self.address

    def free(self) -> None:
        self.freed = True


class FakeContext:
    def __init__(self) -> None:
        self.depth, self.detached = 1, False

    def push(self) -> None:
        self.depth += 1

    def pop(self) -> None:
        self.depth -= 1

    def detach(self) -> None:
        self.detached = True


class FakeCuda:
    """The pycuda.driver calls the product makes, over a dict of bytearrays."""

    def __init__(self, gpu: str = "Fake GPU 1") -> None:
        self.memory: dict[int, bytearray] = {}
        self.uploads: list[np.ndarray] = []
        self.contexts: list[FakeContext] = []
        self.pinned: list[FakePinned] = []
        gpu_name, contexts = gpu, self.contexts

        class Device:
            @staticmethod
            def count() -> int:
                return 1

            def __init__(self, index: int) -> None:
                self.index = index

            def name(self) -> str:
                return gpu_name

            def make_context(self) -> FakeContext:
                contexts.append(FakeContext())
                return contexts[-1]

        self.Device = Device

    def init(self) -> None:
        pass

    def mem_alloc(self, size: int) -> FakeAllocation:
        return FakeAllocation(self.memory, size)

    def memcpy_htod(self, allocation: FakeAllocation, array: np.ndarray) -> None:
        self.uploads.append(array.copy())
        self.memory[int(allocation)][: array.nbytes] = array.tobytes()

    def memcpy_htod_async(self, allocation: FakeAllocation, array: np.ndarray, stream: object) -> None:
        self.memcpy_htod(allocation, np.ascontiguousarray(array))

    def memcpy_dtoh_async(self, array: np.ndarray, allocation: FakeAllocation, stream: object) -> None:
        array[...] = np.frombuffer(self.memory[int(allocation)], array.dtype)[: array.size].reshape(array.shape)

    def pagelocked_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        self.pinned.append(FakePinned(int(np.prod(shape)) * np.dtype(dtype).itemsize))
        return np.ndarray(shape, dtype, buffer=self.pinned[-1])

    @staticmethod
    def Stream() -> FakeStream:  # noqa: N802 (pycuda's name)
        return FakeStream()


class FakePinned(bytearray):
    """Page-locked host memory as pycuda gives it: an array's base, with free()."""

    freed = False

    def free(self) -> None:
        self.freed = True


class FakeStream:
    """A pycuda stream: destroyed when its last reference goes (pycuda has no explicit destroy)."""

    alive = 0

    def __init__(self) -> None:
        self.handle = 7
        FakeStream.alive += 1

    def synchronize(self) -> None:
        pass

    def __del__(self) -> None:
        FakeStream.alive -= 1


# ---------------------------------------------------------------- fake engines (TensorRT 8 and 10 APIs)

NAMES = ["input_0", "scores", "boxes"]


class FakeExecution:
    """Computes outputs from the uploaded input: every score/box value of frame i is the mean of input i."""

    def __init__(self, memory: dict[int, bytearray]) -> None:
        self.memory, self.input_shape, self.addresses, self.runs = memory, (0, 3, SIDE, SIDE), {}, 0

    def _shape(self, name: str) -> tuple[int, ...]:
        batch = self.input_shape[0]
        return {"input_0": self.input_shape, "scores": (batch, 3000, CLASSES), "boxes": (batch, 3000, 4)}[name]

    def _execute(self) -> bool:
        self.runs += 1
        shape = self.input_shape
        pixels = np.frombuffer(self.memory[self.addresses["input_0"]], np.float32)[: int(np.prod(shape))]
        means = pixels.reshape(shape).mean(axis=(1, 2, 3), dtype=np.float64).astype(np.float32)
        for name in ("scores", "boxes"):
            values = np.broadcast_to(means[:, None, None], self._shape(name)).astype(np.float32)
            self.memory[self.addresses[name]][: values.nbytes] = values.tobytes()
        return True


class FakeExecution10(FakeExecution):
    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.input_shape = tuple(shape)
        return name == "input_0"

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self._shape(name)

    def set_tensor_address(self, name: str, address: int) -> None:
        self.addresses[name] = address

    def execute_async_v3(self, stream_handle: int) -> bool:
        return self._execute()


class FakeExecution8(FakeExecution):
    def set_binding_shape(self, index: int, shape: tuple[int, ...]) -> bool:
        self.input_shape = tuple(shape)
        return index == 0

    def get_binding_shape(self, index: int) -> tuple[int, ...]:
        return self._shape(NAMES[index])

    def execute_async_v2(self, bindings: list[int], stream_handle: int) -> bool:
        self.addresses = dict(zip(NAMES, bindings))
        return self._execute()


class FakeEngine10:
    def __init__(self, memory: dict[int, bytearray], profile: tuple[int, int, int]) -> None:
        self.memory, self.profile, self.executions = memory, profile, []
        self.num_io_tensors = 3

    def get_tensor_name(self, index: int) -> str:
        return NAMES[index]

    def get_tensor_mode(self, name: str) -> str:
        return "INPUT" if name == "input_0" else "OUTPUT"

    def get_tensor_dtype(self, name: str) -> str:
        return "FLOAT"

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, ...]]:
        return [(batch, 3, SIDE, SIDE) for batch in self.profile]

    def create_execution_context(self) -> FakeExecution10:
        self.executions.append(FakeExecution10(self.memory))
        return self.executions[-1]


class FakeEngine8:
    def __init__(self, memory: dict[int, bytearray], profile: tuple[int, int, int]) -> None:
        self.memory, self.profile, self.executions = memory, profile, []
        self.num_bindings = 3

    def get_binding_name(self, index: int) -> str:
        return NAMES[index]

    def binding_is_input(self, index: int) -> bool:
        return index == 0

    def get_binding_dtype(self, index: int) -> str:
        return "FLOAT"

    def get_profile_shape(self, profile: int, index: int) -> list[tuple[int, ...]]:
        return [(batch, 3, SIDE, SIDE) for batch in self.profile]

    def get_binding_index(self, name: str) -> int:
        return NAMES.index(name)

    def create_execution_context(self) -> FakeExecution8:
        self.executions.append(FakeExecution8(self.memory))
        return self.executions[-1]


# ---------------------------------------------------------------- fake tensorrt (builder side)


class FakeBuilder:
    """Builds by driving the calibrator the way TensorRT does: cache first, else batches until None, then save."""

    builds = 0

    def __init__(self, logger: object, *, fixed_batch: int = -1) -> None:
        self.platform_has_fast_fp16 = self.platform_has_fast_int8 = True
        self.fixed_batch = fixed_batch

    def create_network(self, flags: int) -> SimpleNamespace:
        shape = (self.fixed_batch, 3, SIDE, SIDE)
        return SimpleNamespace(flags=flags, get_input=lambda index: SimpleNamespace(shape=shape))

    @staticmethod
    def create_builder_config() -> SimpleNamespace:
        config = SimpleNamespace(flags=set(), profiles=[], pools={}, int8_calibrator=None, calibration_profile=None)
        config.set_flag = config.flags.add
        config.add_optimization_profile = config.profiles.append
        config.set_memory_pool_limit = config.pools.__setitem__
        config.set_calibration_profile = lambda profile: setattr(config, "calibration_profile", profile)
        return config

    @staticmethod
    def create_optimization_profile() -> SimpleNamespace:
        profile = SimpleNamespace(shapes={})
        profile.set_shape = lambda name, *shapes: profile.shapes.__setitem__(name, shapes)
        return profile

    def build_serialized_network(self, network: object, config: SimpleNamespace) -> bytes | None:
        FakeBuilder.builds += 1
        calibrator = config.int8_calibrator
        if calibrator is not None:
            profile = config.calibration_profile or config.profiles[0]
            if calibrator.get_batch_size() != profile.shapes["input_0"][1][0]:
                return None  # TensorRT calibrates at the profile's opt batch and would read past a smaller buffer
        if calibrator is not None and calibrator.read_calibration_cache() is None:
            while calibrator.get_batch(["input_0"]) is not None:
                pass
            calibrator.write_calibration_cache(b"calibration table")
        return b"engine " + ",".join(sorted(config.flags)).encode()


def broken_nptype(trt_type: object) -> type:
    """TensorRT 8.5's nptype under numpy >= 1.24: it names np.bool, which is gone."""
    raise AttributeError("module 'numpy' has no attribute 'bool'")


def fake_trt(version: str = "8.6.1", engine: type = FakeEngine10, memory: dict | None = None,
             profile: tuple[int, int, int] = (1, 4, 4)) -> SimpleNamespace:
    class Calibrator:
        def __init__(self) -> None:
            pass

    class Parser:
        def __init__(self, network: object, logger: object) -> None:
            pass

        @staticmethod
        def parse(data: bytes) -> bool:
            return data.startswith(b"onnx")

        num_errors = 1

        @staticmethod
        def get_error(index: int) -> str:
            return "Unsupported ONNX opset 20"

    class Logger:
        WARNING = "warning"

        def __init__(self, level: str) -> None:
            self.level = level

    runtime = SimpleNamespace(deserialize_cuda_engine=lambda data: engine(memory, profile) if data else None)
    return SimpleNamespace(
        __version__=version, Logger=Logger, Builder=FakeBuilder,
        Runtime=lambda logger: runtime, OnnxParser=Parser, IInt8EntropyCalibrator2=Calibrator,
        NetworkDefinitionCreationFlag=SimpleNamespace(EXPLICIT_BATCH=0), MemoryPoolType=SimpleNamespace(WORKSPACE="ws"),
        BuilderFlag=SimpleNamespace(FP16="fp16", INT8="int8"), TensorIOMode=SimpleNamespace(INPUT="INPUT"),
        DataType=SimpleNamespace(FLOAT="FLOAT", HALF="HALF", INT8="INT8", INT32="INT32", BOOL="BOOL"),
        nptype=broken_nptype,
    )


# ---------------------------------------------------------------- engine cache keys


def _key(**changes: object) -> EngineKey:
    base = EngineKey(onnx_sha256="a" * 64, precision="fp16", batch_profile=(1, 8, 8), tensorrt_version="8.6.1",
                     gpu_name="Orin", calibration="")
    return base.replace(**changes)


@pytest.mark.parametrize("changes", [
    {"onnx_sha256": "b" * 64}, {"precision": "fp32"}, {"batch_profile": (1, 8, 16)}, {"batch_profile": (2, 8, 8)},
    {"tensorrt_version": "10.3.0"}, {"gpu_name": "Xavier"}, {"calibration": "c" * 64},
])
def test_any_change_in_any_key_field_changes_the_key_and_the_file(changes: dict, tmp_path: Path) -> None:
    onnx = tmp_path / "ssd.onnx"
    assert _key(**changes).digest() != _key().digest()
    assert engine_path(tmp_path, onnx, _key(**changes)) != engine_path(tmp_path, onnx, _key())
    assert _key().digest() == _key().digest()
    assert EngineKey.from_json(_key(**changes).to_json()) == _key(**changes)


def test_a_stale_engine_is_not_a_cache_hit(tmp_path: Path) -> None:
    path = engine_path(tmp_path, tmp_path / "ssd.onnx", _key())
    assert not cached_engine(path, _key())
    path.write_bytes(b"engine")
    assert not cached_engine(path, _key())  # no key beside it: never trusted
    key_path(path).write_text(_key(tensorrt_version="8.5.2").to_json())
    assert not cached_engine(path, _key())
    key_path(path).write_text("{not json")
    assert not cached_engine(path, _key())
    key_path(path).write_text(_key().to_json())
    assert cached_engine(path, _key())


def test_stale_reason_names_the_tensorrt_or_gpu_mismatch() -> None:
    assert stale_reason(_key(), tensorrt_version="8.6.1", gpu_name="Orin") is None
    assert "TensorRT 8.6.1" in stale_reason(_key(), tensorrt_version="10.3.0", gpu_name="Orin")
    assert "Xavier" in stale_reason(_key(), tensorrt_version="8.6.1", gpu_name="Xavier")


# ---------------------------------------------------------------- profiles, flags, workspace


def test_profile_shapes_from_batch_sizes() -> None:
    assert profile_shapes([8, 1, 32]) == ((1, 3, 300, 300), (32, 3, 300, 300), (32, 3, 300, 300))
    assert batch_profile([4]) == (4, 4, 4)
    for bad in ([], [0, 8], [-1]):
        with pytest.raises(UserError, match="batch sizes"):
            batch_profile(bad)


def test_explicit_batch_flag_before_tensorrt_10_only() -> None:
    assert network_flags(fake_trt("7.1.3")) == 1
    assert network_flags(fake_trt("8.6.1")) == 1
    assert network_flags(fake_trt("10.3.0")) == 0
    without_flag = fake_trt("9.0.0")
    without_flag.NetworkDefinitionCreationFlag = SimpleNamespace()
    assert network_flags(without_flag) == 0


def test_workspace_limit_uses_memory_pools_or_the_old_attribute() -> None:
    trt = fake_trt()
    pools = FakeBuilder.create_builder_config()
    set_workspace(trt, pools, 123)
    assert pools.pools == {"ws": 123}
    old = SimpleNamespace(max_workspace_size=0)
    set_workspace(trt, old, 456)
    assert old.max_workspace_size == 456


def test_serialization_on_tensorrt_8_and_10_or_7() -> None:
    config = FakeBuilder.create_builder_config()
    assert serialize_network(FakeBuilder(None), None, config) == b"engine "
    engine = SimpleNamespace(serialize=lambda: memoryview(b"trt7 engine"))
    assert serialize_network(SimpleNamespace(build_engine=lambda network, config: engine), None, config) == (
        b"trt7 engine")
    assert serialize_network(SimpleNamespace(build_engine=lambda network, config: None), None, config) is None


def test_engine_batch_chunks_split_at_max_and_pad_to_min() -> None:
    assert batch_chunks(10, 1, 4) == [(0, 4, 4), (4, 4, 4), (8, 2, 2)]
    assert batch_chunks(1, 2, 8) == [(0, 1, 2)]
    assert batch_chunks(3, 1, 32) == [(0, 3, 3)]


# ---------------------------------------------------------------- calibration batching and cache


@pytest.fixture()
def images(tmp_path: Path, frames: list[np.ndarray]) -> list[Path]:
    paths = []
    for index, frame in enumerate(frames[:5]):
        paths.append(tmp_path / f"img{index}.png")
        cv2.imwrite(str(paths[-1]), frame)
    return paths


def _batches(paths: list[Path], batch_size: int) -> CalibrationBatches:
    report = CalibrationReport(requested=len(paths), available=len(paths))
    return CalibrationBatches(ImageCalibrationReader(paths, report), batch_size)


def test_calibration_batches_are_preprocessed_exactly_like_inference(images: list[Path],
                                                                     frames: list[np.ndarray]) -> None:
    batches = list(_batches(images, batch_size=2))
    assert [b.shape for b in batches] == [(2, 3, 300, 300)] * 3 and all(b.dtype == np.float32 for b in batches)
    expected = normalize_numpy(preprocess_batch(frames[:5])[0])
    np.testing.assert_array_equal(np.concatenate(batches)[:5], expected)
    np.testing.assert_array_equal(batches[-1][1], expected[4])  # the short last batch repeats its own images
    with pytest.raises(UserError, match="at least 1"):
        _batches(images, batch_size=0)


def test_corrupt_calibration_images_are_skipped_and_counted(images: list[Path], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"not a jpeg")
    batches = _batches([corrupt, *images, tmp_path / "missing.jpg"], batch_size=4)
    assert len(list(batches)) == 2
    assert (batches.reader.report.used, batches.reader.report.corrupt) == (5, 2)


def test_calibration_feed_uploads_batches_then_caches(images: list[Path], tmp_path: Path) -> None:
    cuda = FakeCuda()
    cache = tmp_path / "ssd.calib"
    feed = CalibrationFeed(_batches(images, 4), 4, (3, SIDE, SIDE), cache, cuda.mem_alloc, cuda.memcpy_htod)
    assert feed.get_batch_size() == 4 and feed.read_calibration_cache() is None
    pointers = [feed.get_batch(["input_0"]) for _ in range(3)]
    assert pointers[0] == pointers[1] and len(pointers[0]) == 1 and pointers[2] is None
    assert feed.batches_fed == 2 and [u.shape for u in cuda.uploads] == [(4, 3, 300, 300)] * 2
    feed.write_calibration_cache(memoryview(b"table"))
    assert cache.read_bytes() == b"table"
    again = CalibrationFeed(_batches(images, 4), 4, (3, SIDE, SIDE), cache, cuda.mem_alloc, cuda.memcpy_htod)
    assert again.read_calibration_cache() == b"table" and again.cache_hit
    empty = CalibrationFeed(_batches([], 4), 4, (3, SIDE, SIDE), tmp_path / "empty.calib", cuda.mem_alloc,
                            cuda.memcpy_htod)
    assert empty.get_batch(["input_0"]) is None
    empty.write_calibration_cache(b"table from nothing")
    assert not (tmp_path / "empty.calib").exists()


# ---------------------------------------------------------------- build_engine with a fake TensorRT


@pytest.fixture()
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "ssd.onnx"
    path.write_bytes(b"onnx graph v1")
    return path


def _use_runtime(monkeypatch: pytest.MonkeyPatch, trt: SimpleNamespace, cuda: FakeCuda) -> None:
    monkeypatch.setattr(tensorrt_build, "tensorrt_runtime", lambda: (trt, cuda))


def test_build_reuses_only_an_engine_of_the_same_key(monkeypatch: pytest.MonkeyPatch, onnx_file: Path,
                                                      tmp_path: Path) -> None:
    FakeBuilder.builds = 0
    _use_runtime(monkeypatch, fake_trt("8.6.1"), FakeCuda())
    first = build_engine(onnx_file, tmp_path / "engines", precision="fp16", batch_sizes=[1, 8], calibration_images=None,
                         progress=False)
    assert first.read_bytes() == b"engine fp16" and read_engine_key(first).batch_profile == (1, 8, 8)
    assert build_engine(onnx_file, tmp_path / "engines", precision="fp16", batch_sizes=[8, 1],
                        calibration_images=None, progress=False) == first
    assert FakeBuilder.builds == 1
    _use_runtime(monkeypatch, fake_trt("10.3.0"), FakeCuda())
    second = build_engine(onnx_file, tmp_path / "engines", precision="fp16", batch_sizes=[1, 8],
                          calibration_images=None, progress=False)
    onnx_file.write_bytes(b"onnx graph v2")
    third = build_engine(onnx_file, tmp_path / "engines", precision="fp16", batch_sizes=[1, 8],
                         calibration_images=None, progress=False)
    assert FakeBuilder.builds == 3 and len({first, second, third}) == 3
    assert read_engine_key(third).tensorrt_version == "10.3.0"


def test_int8_build_calibrates_on_real_images_once_then_uses_the_cache(monkeypatch: pytest.MonkeyPatch,
                                                                       onnx_file: Path, images: list[Path],
                                                                       tmp_path: Path) -> None:
    cuda = FakeCuda()
    _use_runtime(monkeypatch, fake_trt(), cuda)
    engine = build_engine(onnx_file, tmp_path / "e", precision="int8", batch_sizes=[1, 8], calibration_images=images,
                          progress=False)
    assert engine.read_bytes() == b"engine int8" and read_engine_key(engine).calibration
    assert [u.shape for u in cuda.uploads] == [(8, 3, 300, 300)]  # 5 images fill one batch of 8, the opt batch
    assert list((tmp_path / "e").glob("*.calib"))
    cuda.uploads.clear()
    build_engine(onnx_file, tmp_path / "e", precision="int8", batch_sizes=[1, 16], calibration_images=images,
                 progress=False)
    assert cuda.uploads == []  # another profile: a new engine, but the calibration cache is reused


def test_int8_calibrates_at_the_profiles_opt_batch_not_a_fixed_one(monkeypatch: pytest.MonkeyPatch, onnx_file: Path,
                                                                   images: list[Path], tmp_path: Path) -> None:
    """The default batch sizes 1,8,32: TensorRT calibrates at the opt batch, 32, so the calibrator feeds 32 images a
    batch (it fed 8 into an 8-image buffer before, of which TensorRT read 32)."""
    cuda = FakeCuda()
    _use_runtime(monkeypatch, fake_trt(), cuda)
    build_engine(onnx_file, tmp_path / "e", precision="int8", batch_sizes=[1, 8, 32], calibration_images=images,
                 progress=False)
    assert [u.shape for u in cuda.uploads] == [(32, 3, 300, 300)]
    assert list(cuda.memory.values())[0].__len__() == 32 * 3 * 300 * 300 * 4  # the device buffer holds the batch


def test_build_refusals_are_one_line_user_errors(monkeypatch: pytest.MonkeyPatch, onnx_file: Path,
                                                 tmp_path: Path) -> None:
    _use_runtime(monkeypatch, fake_trt(), FakeCuda())
    with pytest.raises(UserError, match="int8 engine needs calibration images"):
        build_engine(onnx_file, tmp_path, precision="int8", batch_sizes=[1], calibration_images=[], progress=False)
    with pytest.raises(UserError, match="not bf16"):
        build_engine(onnx_file, tmp_path, precision="bf16", batch_sizes=[1], calibration_images=None, progress=False)
    with pytest.raises(UserError, match="none of the 1 calibration images"):
        build_engine(onnx_file, tmp_path, precision="int8", batch_sizes=[1], calibration_images=[tmp_path / "x.jpg"],
                     progress=False)
    onnx_file.write_bytes(b"garbage")
    with pytest.raises(UserError, match="cannot parse ssd.onnx: Unsupported ONNX opset 20"):
        build_engine(onnx_file, tmp_path, precision="fp32", batch_sizes=[1], calibration_images=None, progress=False)
    assert not list(tmp_path.glob("*.engine"))


def test_a_fixed_batch_graph_refuses_other_batch_sizes(monkeypatch: pytest.MonkeyPatch, onnx_file: Path,
                                                       tmp_path: Path) -> None:
    trt = fake_trt()
    trt.Builder = lambda logger: FakeBuilder(logger, fixed_batch=1)
    _use_runtime(monkeypatch, trt, FakeCuda())
    with pytest.raises(UserError, match="fixed batch of 1"):
        build_engine(onnx_file, tmp_path, precision="fp32", batch_sizes=[1, 8], calibration_images=None, progress=False)
    assert build_engine(onnx_file, tmp_path, precision="fp32", batch_sizes=[1], calibration_images=None,
                        progress=False).is_file()


# ---------------------------------------------------------------- engine IO by name and the backend


@pytest.mark.parametrize("engine_class", [FakeEngine10, FakeEngine8])
def test_engine_io_binds_tensors_by_name(engine_class: type) -> None:
    memory: dict[int, bytearray] = {}
    engine = engine_class(memory, (1, 2, 4))
    execution = engine.create_execution_context()
    io = engine_io(fake_trt(), engine, execution, "input_0", ["scores", "boxes"])
    assert io.inputs == ["input_0"] and sorted(io.outputs) == ["boxes", "scores"]
    assert io.batch_range("input_0") == (1, 4)
    io.set_input_shape("input_0", (3, 3, SIDE, SIDE))
    # mapped by the runner itself: the fake's trt.nptype fails as TensorRT 8.5's does under numpy >= 1.24
    assert io.shape("scores") == (3, 3000, CLASSES) and io.dtype("boxes") == np.float32
    for address, name in enumerate(NAMES):
        io.bind(name, 100 + address)
    memory.update({100: bytearray(3 * 3 * SIDE * SIDE * 4), 101: bytearray(3 * 3000 * CLASSES * 4),
                   102: bytearray(3 * 3000 * 4 * 4)})
    io.execute(7)
    assert execution.addresses == {"input_0": 100, "scores": 101, "boxes": 102} and execution.runs == 1


def _write_engine(tmp_path: Path, key: EngineKey) -> Path:
    engine = tmp_path / "ssd-fp16.engine"
    engine.write_bytes(b"serialized")
    key_path(engine).write_text(key.to_json())
    return engine


@pytest.mark.parametrize("engine_class", [FakeEngine10, FakeEngine8])
def test_detector_runs_chunks_within_the_profile_and_keeps_frame_order(engine_class: type, tmp_path: Path,
                                                                       random_model: tuple[Path, Path]) -> None:
    cuda = FakeCuda(gpu="Orin")
    trt = fake_trt("8.6.1", engine_class, cuda.memory, profile=(2, 4, 4))
    engine = _write_engine(tmp_path, _key())
    detector = TensorRtDetector(DetectorSpec(engine, random_model[1], backend="tensorrt", precision="fp16"),
                                runtime=(trt, cuda))
    values = np.array([0, 50, 127, 200, 255], np.uint8)
    resized = np.broadcast_to(values[:, None, None, None], (5, SIDE, SIDE, 3)).copy()
    scores, boxes = detector.infer(resized)
    assert scores.shape == (5, 3000, CLASSES) and boxes.shape == (5, 3000, 4)
    np.testing.assert_allclose(scores[:, 0, 0].numpy(), (values - 127.0) / 128.0, atol=1e-6)
    execution = detector._runner.engine.executions[0]
    assert execution.runs == 2 and execution.input_shape == (2, 3, SIDE, SIDE)  # 4, then 1 padded to 2
    one, _ = detector.infer(resized[3:4])
    assert one.shape[0] == 1 and execution.runs == 3
    assert cuda.contexts[0].depth == 0  # pushed and popped around each call
    device_buffers = list(detector._runner.device.values())
    assert len(cuda.pinned) == 3 and FakeStream.alive >= 1
    streams_before = FakeStream.alive
    detector.close()
    # close() releases everything: device buffers, page-locked host arrays, the stream, the engine, the context
    assert cuda.contexts[0].detached and all(allocation.freed for allocation in device_buffers)
    assert all(pinned.freed for pinned in cuda.pinned) and FakeStream.alive == streams_before - 1
    assert detector._runner.engine is None and detector._runner.device == {}


def test_detector_refuses_stale_mislabelled_or_unrecorded_engines(tmp_path: Path,
                                                                  random_model: tuple[Path, Path]) -> None:
    cuda = FakeCuda(gpu="Orin")
    trt = fake_trt("8.6.1", FakeEngine10, cuda.memory)
    labels = random_model[1]

    def load(engine: Path, precision: str = "fp16") -> TensorRtDetector:
        return TensorRtDetector(DetectorSpec(engine, labels, backend="tensorrt", precision=precision),
                                runtime=(trt, cuda))

    engine = _write_engine(tmp_path, _key(tensorrt_version="8.2.1"))
    with pytest.raises(UserError, match="stale: it was built with TensorRT 8.2.1"):
        load(engine)
    engine = _write_engine(tmp_path, _key(gpu_name="Xavier"))
    with pytest.raises(UserError, match="stale: it was built for Xavier"):
        load(engine)
    engine = _write_engine(tmp_path, _key())
    with pytest.raises(UserError, match="was built as fp16, not int8"):
        load(engine, "int8")
    key_path(engine).unlink()
    with pytest.raises(UserError, match="no build record"):
        load(engine)
    with pytest.raises(UserError, match="runs engines"):
        load(tmp_path / "ssd.onnx")


# ---------------------------------------------------------------- real TensorRT (Jetson or a TensorRT GPU machine)


@pytest.fixture()
def real_tensorrt() -> None:
    pytest.importorskip("tensorrt", reason="TensorRT is not installed here (JetPack or NVIDIA's wheels provide it)")
    pytest.importorskip("pycuda.driver", reason="pycuda is not installed here")


@pytest.mark.tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_real_engine_matches_onnxruntime(real_tensorrt: None, precision: str, tmp_path: Path,
                                         random_model: tuple[Path, Path], frames: list[np.ndarray]) -> None:
    from core.detect.registry import load_detector, spec_for
    from core.model.onnx_export import export_onnx

    weights, labels = random_model
    onnx = export_onnx(weights, labels, tmp_path / "ssd.onnx", dynamic_batch=True, opset=11)
    engine = build_engine(Path(onnx), tmp_path, precision=precision, batch_sizes=[1, 4], calibration_images=None,
                          progress=False)
    trt_detector = load_detector(spec_for(engine, labels, backend="tensorrt", precision=precision))
    ort_detector = load_detector(spec_for(onnx, labels, backend="onnxruntime"))
    resized, _ = preprocess_batch(frames[:4])
    expected, got = ort_detector.infer(resized)[0].numpy(), trt_detector.infer(resized)[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3 if precision == "fp32" else 2e-2)
    trt_detector.close()
