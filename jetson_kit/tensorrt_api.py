"""TensorRT's Python API across the versions JetPack ships: 7.1 (JetPack 4.4), 8.x (4.6, 5.x, 6.0) and 10.x (6.1),
for building engines from our ONNX graph, calibrating INT8 and running engines. Shared by the Jetson program and
the server (core.optimize.tensorrt_build, core.detect.tensorrt_backend), so each version difference lives here once.

Differences are probed with `hasattr`, as NVIDIA's own samples do:
- build: 7.x sets `max_workspace_size` and calls `build_engine`; 8.x sets a memory pool limit and calls
  `build_serialized_network`; 10.x the same without the explicit-batch flag (explicit batch is its only mode).
- INT8: TensorRT calibrates at the calibration profile's kOPT shape, so the calibrator's batch is that opt batch;
  `CalibrationFeed` refuses any other (a smaller device buffer would be read past its end).
- run: binding indices + `execute_async_v2` (7.1-8.4) or named tensors + `execute_async_v3` (8.5 on; the only API
  of 10.x). `trt.nptype` is never called: on 8.5 it names `np.bool`, which numpy 1.24 removed (NVIDIA/TensorRT
  issues 2557, 2701), so `numpy_dtype` maps TensorRT's types itself.

An engine depends on the ONNX bytes, the precision, the batch profile, the TensorRT version, the GPU and, for INT8,
the calibration set: `EngineKey` holds them all, its digest is part of the engine's file name and the key is written
beside the engine, so a changed model, another GPU or another TensorRT never reuses a stale engine
(jetson-inference issues #1314 and #1370). Python 3.6 and later; standard library and numpy only.
"""
import hashlib
import json
import logging
import os

import numpy as np

from jetson_kit.errors import KitError
from jetson_kit.files import write_atomic

log = logging.getLogger(__name__)
PRECISIONS = ("fp32", "fp16", "int8")
WORKSPACE_BYTES = 1 << 30
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
# TensorRT DataType member -> numpy type name; members a version lacks are skipped
_NUMPY_TYPES = (("FLOAT", "float32"), ("HALF", "float16"), ("INT8", "int8"), ("INT32", "int32"), ("BOOL", "bool"),
                ("UINT8", "uint8"), ("INT64", "int64"))


class EngineKey(object):
    """Everything a built engine depends on: any change in any field gives another digest, hence another file."""

    FIELDS = ("onnx_sha256", "precision", "batch_profile", "tensorrt_version", "gpu_name", "calibration")

    def __init__(self, onnx_sha256, precision, batch_profile, tensorrt_version, gpu_name, calibration=""):
        self.onnx_sha256 = str(onnx_sha256)
        self.precision = str(precision)
        self.batch_profile = tuple(int(size) for size in batch_profile)  # min, opt, max of the input's dimension 0
        self.tensorrt_version = str(tensorrt_version)
        self.gpu_name = str(gpu_name)
        self.calibration = str(calibration)  # digest of the INT8 calibration set; "" for fp32/fp16
        if len(self.batch_profile) != 3:
            raise ValueError("batch_profile needs (min, opt, max), got {}".format(batch_profile))

    def as_dict(self):
        return {name: getattr(self, name) for name in self.FIELDS}

    def to_json(self):
        return json.dumps(self.as_dict(), sort_keys=True)

    def digest(self):
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, text):
        """The key written by `to_json`; ValueError, TypeError or KeyError when `text` is not one."""
        fields = json.loads(text)
        if not isinstance(fields, dict):
            raise ValueError("an engine key is a JSON object")
        return cls(**fields)

    def replace(self, **changes):
        fields = self.as_dict()
        fields.update(changes)
        return EngineKey(**fields)

    def __eq__(self, other):
        return isinstance(other, EngineKey) and self.as_dict() == other.as_dict()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.to_json())

    def __repr__(self):
        return "EngineKey({})".format(self.to_json())


def engine_file_name(stem, key):
    low, opt, high = key.batch_profile
    return "{}-{}-b{}-{}-{}-{}.engine".format(stem, key.precision, low, opt, high, key.digest()[:12])


def key_file(engine_path):
    """Where the build record of an engine lives: `<engine>.json` beside it."""
    return str(engine_path) + ".json"


def calibration_cache_name(stem, key):
    """The calibration cache serves every INT8 build of the same graph, images and TensorRT, whatever the profile."""
    text = "\0".join((key.onnx_sha256, key.calibration, key.tensorrt_version))
    return "{}-int8-{}.calib".format(stem, hashlib.sha256(text.encode("utf-8")).hexdigest()[:12])


def cached_engine(path, key):
    """True when the engine at `path` exists and was built under exactly `key`."""
    try:
        with open(key_file(path), "r", encoding="utf-8") as stream:
            return os.path.isfile(str(path)) and EngineKey.from_json(stream.read()) == key
    except (OSError, ValueError, TypeError, KeyError):
        return False


def stale_reason(key, tensorrt_version, gpu_name):
    """Why an engine built under `key` must not run here, or None when it may."""
    if key.tensorrt_version != tensorrt_version:
        return "it was built with TensorRT {}, this is TensorRT {}".format(key.tensorrt_version, tensorrt_version)
    if key.gpu_name != gpu_name:
        return "it was built for {}, this GPU is {}".format(key.gpu_name, gpu_name)
    return None


def write_engine(path, serialized, key):
    """The engine and its key, each written atomically; the old key goes first, so an engine is never trusted under
    a key it was not built with."""
    if os.path.exists(key_file(path)):
        os.unlink(key_file(path))
    write_atomic(str(path), serialized)
    write_atomic(key_file(path), key.to_json().encode("utf-8"))


# ---------------------------------------------------------------- building


def batch_profile(batch_sizes):
    """(min, opt, max) batch of the optimization profile; TensorRT tunes its kernels for opt, the largest size."""
    sizes = list(batch_sizes)
    if not sizes or any(isinstance(size, bool) or int(size) != size or int(size) < 1 for size in sizes):
        raise KitError("batch sizes must be positive integers, got {}".format(sizes))
    return int(min(sizes)), int(max(sizes)), int(max(sizes))


def calibration_batch_size(batch_sizes):
    """The INT8 calibrator's batch: the calibration profile's opt batch, which TensorRT calibrates at."""
    return batch_profile(batch_sizes)[1]


def profile_shapes(batch_sizes, sample_shape):
    """The min/opt/max shapes of the input for the batch sizes, e.g. (N,3,300,300)."""
    return tuple((batch,) + tuple(sample_shape) for batch in batch_profile(batch_sizes))


def major_version(trt):
    return int(str(trt.__version__).split(".")[0])


def network_flags(trt):
    """Explicit batch: a creation flag before TensorRT 10, the only mode (its flag deprecated) from 10 on."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    if flag is None or major_version(trt) >= 10:
        return 0
    return 1 << int(flag)


def set_workspace(trt, config, limit=WORKSPACE_BYTES):
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, limit)
    else:  # TensorRT < 8.4
        config.max_workspace_size = limit


def check_precision(builder, precision):
    """Refuse a precision the GPU has no fast path for: the engine would silently run something else."""
    if precision not in PRECISIONS:
        raise KitError("TensorRT engines are built as {}, not {}".format(", ".join(PRECISIONS), precision))
    fast = {"fp16": "platform_has_fast_fp16", "int8": "platform_has_fast_int8"}.get(precision)
    if fast and not getattr(builder, fast, True):
        raise KitError("this GPU has no fast {0} path; TensorRT would not run {0}".format(precision))


def check_batch_axis(network, batch_sizes):
    """A graph exported with a fixed batch only takes that batch."""
    fixed = int(network.get_input(0).shape[0])
    if fixed != -1 and set(batch_sizes) != {fixed}:
        raise KitError("the ONNX graph has a fixed batch of {}; export it with a dynamic batch for batch sizes {}"
                       .format(fixed, sorted(set(batch_sizes))))


def parse_onnx(trt, network, logger, data, name):
    """The parser that filled `network` from the ONNX bytes (keep it alive: it owns the weights until the build)."""
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(data):
        errors = [str(parser.get_error(index)) for index in range(parser.num_errors)]
        raise KitError("TensorRT {} cannot parse {}: {} (try a lower --opset)".format(
            trt.__version__, name, errors[0] if errors else "unknown error"))
    return parser


def configure(trt, builder, input_name, precision, shapes, calibrator=None, workspace=WORKSPACE_BYTES):
    """A builder config with the workspace limit, the precision flags and one optimization profile (min/opt/max
    `shapes`), which is also the INT8 calibration profile."""
    config = builder.create_builder_config()
    set_workspace(trt, config, workspace)
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, *shapes)
    config.add_optimization_profile(profile)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        if calibrator is None:
            raise KitError("an int8 engine needs a calibrator")
        if calibrator.get_batch_size() != shapes[1][0]:
            raise KitError("the calibrator's batch {} differs from the calibration profile's opt batch {}".format(
                calibrator.get_batch_size(), shapes[1][0]))
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
        if hasattr(config, "set_calibration_profile"):
            config.set_calibration_profile(profile)
    return config


def serialize_network(builder, network, config):
    """The serialized engine: `build_serialized_network` from TensorRT 8.0, `build_engine` + `serialize` on 7.x."""
    if hasattr(builder, "build_serialized_network"):
        serialized = builder.build_serialized_network(network, config)
    else:
        engine = builder.build_engine(network, config)
        serialized = engine.serialize() if engine is not None else None
    return bytes(serialized) if serialized is not None else None


def build_serialized(trt, logger, onnx_bytes, onnx_name, input_name, precision, batch_sizes, sample_shape,
                     calibrator=None, workspace=WORKSPACE_BYTES):
    """Parse the ONNX graph and build a serialized engine of `precision` for `batch_sizes` (one profile).

    INT8 needs `calibrator` (see `entropy_calibrator`), whose batch must be `calibration_batch_size(batch_sizes)`.
    """
    builder = trt.Builder(logger)
    check_precision(builder, precision)
    network = builder.create_network(network_flags(trt))
    parser = parse_onnx(trt, network, logger, onnx_bytes, onnx_name)
    check_batch_axis(network, batch_sizes)
    config = configure(trt, builder, input_name, precision, profile_shapes(batch_sizes, sample_shape),
                       calibrator if precision == "int8" else None, workspace)
    log.info("building a %s TensorRT %s engine from %s (minutes on a Jetson)", precision, trt.__version__, onnx_name)
    serialized = serialize_network(builder, network, config)
    del parser
    if serialized is None:
        raise KitError("TensorRT {} failed to build a {} engine from {} (see its log above)".format(
            trt.__version__, precision, onnx_name))
    return serialized


# ---------------------------------------------------------------- INT8 calibration


def fixed_batches(samples, batch_size):
    """Batches of exactly `batch_size` from an iterable of one-sample arrays (1,C,H,W) or (C,H,W).

    The last batch, when short, is completed by repeating its own samples: TensorRT calibrates at one fixed batch,
    and repeating real images keeps the statistics real (zeros would not).
    """
    if batch_size < 1:
        raise KitError("calibration batch size must be at least 1, got {}".format(batch_size))
    pending = []
    for sample in samples:
        pending.append(sample if sample.ndim == 4 else sample[None])
        if len(pending) == batch_size:
            yield np.concatenate(pending)
            pending = []
    if pending:
        batch = np.concatenate(pending)
        yield batch[np.arange(batch_size) % len(batch)]


class CalibrationFeed(object):
    """What a TensorRT INT8 calibrator does, with the device calls (`allocate`, `upload`) injected.

    `batches` yields float32 arrays of `batch_size` samples of `sample_shape`; `batch_size` must be the calibration
    profile's opt batch. `get_batch` uploads the next batch into one device buffer and returns its address, or None
    when the batches are exhausted. The calibration cache is read before calibrating (TensorRT then skips the
    images) and written atomically after, never from zero batches.
    """

    def __init__(self, batches, batch_size, sample_shape, cache_path, allocate, upload):
        if batch_size < 1:
            raise KitError("calibration batch size must be at least 1, got {}".format(batch_size))
        self.batch_size = int(batch_size)
        self.shape = (self.batch_size,) + tuple(sample_shape)
        self.cache_path = str(cache_path)
        self._iterator = iter(batches)
        self._upload = upload
        self._device = allocate(int(np.prod(self.shape)) * np.dtype(np.float32).itemsize)
        self.batches_fed = 0
        self.cache_hit = False

    def get_batch_size(self):
        return self.batch_size

    def get_batch(self, names):
        batch = next(self._iterator, None)
        if batch is None:
            log.info("calibration: %d batches of %d", self.batches_fed, self.batch_size)
            return None
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.shape != self.shape:
            raise KitError("calibration batch of shape {} where the calibration profile takes {}".format(
                batch.shape, self.shape))
        self._upload(self._device, batch)
        self.batches_fed += 1
        return [int(self._device) for _ in names]

    def read_calibration_cache(self):
        if not os.path.isfile(self.cache_path):
            return None
        log.info("calibration: reusing %s", os.path.basename(self.cache_path))
        self.cache_hit = True
        with open(self.cache_path, "rb") as stream:
            return stream.read()

    def write_calibration_cache(self, cache):
        if self.batches_fed:  # a table computed from no image must never be reused
            write_atomic(self.cache_path, bytes(cache))

    def close(self):
        """Free the device buffer now, while the CUDA context that owns it is still current."""
        self._device.free()


def entropy_calibrator(trt, feed):
    """A `trt.IInt8EntropyCalibrator2` over a `CalibrationFeed`."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.feed = feed

        def get_batch_size(self):
            return self.feed.get_batch_size()

        def get_batch(self, names, *_):
            return self.feed.get_batch(names)

        def read_calibration_cache(self):
            return self.feed.read_calibration_cache()

        def write_calibration_cache(self, cache):
            self.feed.write_calibration_cache(cache)

    return EntropyCalibrator()


# ---------------------------------------------------------------- running


def numpy_dtype(trt, trt_type):
    """The numpy dtype of a TensorRT DataType (what `trt.nptype` does, without its `np.bool` trap)."""
    for name, numpy_name in _NUMPY_TYPES:
        if hasattr(trt.DataType, name) and trt_type == getattr(trt.DataType, name):
            return np.dtype(numpy_name)
    raise KitError("TensorRT type {} has no numpy equivalent here".format(trt_type))


class NamedTensorIO(object):
    """TensorRT 8.5+ (and 10.x, where it is the only API): tensors addressed by name."""

    def __init__(self, trt, engine, context):
        self._trt, self._engine, self._context = trt, engine, context
        names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
        self.inputs = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
        self.outputs = [name for name in names if name not in self.inputs]

    def dtype(self, name):
        return numpy_dtype(self._trt, self._engine.get_tensor_dtype(name))

    def batch_range(self, name):
        low, _, high = self._engine.get_tensor_profile_shape(name, 0)
        return int(low[0]), int(high[0])

    def set_input_shape(self, name, shape):
        if not self._context.set_input_shape(name, tuple(shape)):
            raise KitError("the engine refuses input shape {} for {}".format(tuple(shape), name))

    def shape(self, name):
        return tuple(int(d) for d in self._context.get_tensor_shape(name))

    def bind(self, name, address):
        self._context.set_tensor_address(name, int(address))

    def execute(self, stream_handle):
        if not self._context.execute_async_v3(stream_handle):
            raise KitError("TensorRT execute_async_v3 failed")


class BindingIO(object):
    """TensorRT 7.1-8.4: tensors addressed by binding index, run with one list of device pointers."""

    def __init__(self, trt, engine, context):
        self._trt, self._engine, self._context = trt, engine, context
        self._index = {engine.get_binding_name(i): i for i in range(engine.num_bindings)}
        self.inputs = [name for name, i in sorted(self._index.items(), key=lambda item: item[1])
                       if engine.binding_is_input(i)]
        self.outputs = [name for name, _ in sorted(self._index.items(), key=lambda item: item[1])
                        if name not in self.inputs]
        self._addresses = [0] * engine.num_bindings

    def dtype(self, name):
        return numpy_dtype(self._trt, self._engine.get_binding_dtype(self._index[name]))

    def batch_range(self, name):
        low, _, high = self._engine.get_profile_shape(0, self._index[name])
        return int(low[0]), int(high[0])

    def set_input_shape(self, name, shape):
        if not self._context.set_binding_shape(self._index[name], tuple(shape)):
            raise KitError("the engine refuses input shape {} for {}".format(tuple(shape), name))

    def shape(self, name):
        return tuple(int(d) for d in self._context.get_binding_shape(self._index[name]))

    def bind(self, name, address):
        self._addresses[self._index[name]] = int(address)

    def execute(self, stream_handle):
        if not self._context.execute_async_v2(bindings=self._addresses, stream_handle=stream_handle):
            raise KitError("TensorRT execute_async_v2 failed")


def engine_io(trt, engine, context, input_name, output_names):
    """The IO adapter for this TensorRT: named tensors where the engine has them, bindings otherwise; the engine
    must take `input_name` and give `output_names`."""
    io_class = NamedTensorIO if hasattr(engine, "num_io_tensors") else BindingIO
    io = io_class(trt, engine, context)
    if io.inputs != [input_name] or sorted(io.outputs) != sorted(output_names):
        raise KitError("the engine is not a pytorch-ssd detectNet graph: inputs {}, outputs {} (expected [{}] -> {})"
                       .format(io.inputs, io.outputs, input_name, list(output_names)))
    return io


def batch_chunks(count, min_batch, max_batch):
    """(start, frames, run size) pieces covering `count` frames within an engine's batch profile.

    Pieces hold at most `max_batch` frames; one smaller than `min_batch` runs padded to `min_batch`.
    """
    return [(start, min(max_batch, count - start), max(min_batch, min(max_batch, count - start)))
            for start in range(0, count, max_batch)]


class EngineRunner(object):
    """A deserialized engine with page-locked host and device buffers for its largest batch and one CUDA stream.

    `gpu` is a `jetson.cuda` device (pycuda or libcudart); its CUDA context must be current while the runner is
    made, run and closed. `run` times nothing: callers decide what they measure. `close` releases everything the
    runner holds: device buffers, page-locked host arrays, the stream, the execution context and the engine.
    """

    def __init__(self, trt, logger, serialized, gpu, input_name, output_names, name="engine"):
        self._gpu = gpu
        self._runtime = trt.Runtime(logger)
        self.engine = self._runtime.deserialize_cuda_engine(serialized)
        if self.engine is None:
            raise KitError("TensorRT cannot deserialize {} (corrupt, or built by another TensorRT)".format(name))
        self.context = self.engine.create_execution_context()
        self.input_name, self.output_names = input_name, tuple(output_names)
        self.io = engine_io(trt, self.engine, self.context, input_name, output_names)
        self.min_batch, self.max_batch = self.io.batch_range(input_name)
        self.host, self.device, self.stream = {}, {}, None
        try:
            self.io.set_input_shape(input_name, (self.max_batch,) + self.sample_shape())
            for tensor in (input_name,) + self.output_names:
                self.host[tensor] = gpu.host_array(self.io.shape(tensor), self.io.dtype(tensor))
                self.device[tensor] = gpu.alloc(self.host[tensor].nbytes)
                self.io.bind(tensor, int(self.device[tensor]))
            self.stream = gpu.stream()
        except BaseException:
            self.close()
            raise

    def sample_shape(self):
        """The input's shape without the batch axis, from the engine's profile."""
        if isinstance(self.io, NamedTensorIO):
            low = self.engine.get_tensor_profile_shape(self.input_name, 0)[0]
        else:
            low = self.engine.get_profile_shape(0, self.engine.get_binding_index(self.input_name))[0]
        return tuple(int(d) for d in low)[1:]

    def output_shape(self, name):
        return self.io.shape(name)

    def run(self, batch):
        """Outputs (views of the host buffers, valid until the next run) for a float32 batch within the profile."""
        count = len(batch)
        if not self.min_batch <= count <= self.max_batch:
            raise KitError("batch of {} outside the engine's profile {}..{}".format(count, self.min_batch,
                                                                                  self.max_batch))
        host_input = self.host[self.input_name][:count]
        host_input[...] = batch
        self.io.set_input_shape(self.input_name, host_input.shape)
        self._gpu.upload(self.device[self.input_name], host_input, self.stream)
        self.io.execute(self._gpu.stream_handle(self.stream))
        outputs = []
        for name in self.output_names:
            self._gpu.download(self.host[name][:count], self.device[name], self.stream)
            outputs.append(self.host[name][:count])
        self._gpu.synchronize(self.stream)
        return outputs

    def infer(self, batch):
        """Outputs (float32 copies) for a batch of any size, split and padded to fit the engine's profile."""
        pieces = []
        for start, count, size in batch_chunks(len(batch), self.min_batch, self.max_batch):
            chunk = batch[start:start + count]
            if size > count:
                chunk = chunk[np.arange(size) % count]
            pieces.append([output[:count].astype(np.float32) for output in self.run(chunk)])
        return [np.concatenate([piece[index] for piece in pieces]) for index in range(len(self.output_names))]

    def close(self):
        for allocation in self.device.values():
            allocation.free()
        for array in self.host.values():
            self._gpu.free_host(array)
        if self.stream is not None:
            self._gpu.destroy_stream(self.stream)
        self.device, self.host, self.stream = {}, {}, None
        self.io = self.context = self.engine = self._runtime = None
