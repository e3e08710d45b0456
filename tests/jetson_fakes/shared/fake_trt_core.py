"""A fake `tensorrt` module with the API surface of one TensorRT version, for the Jetson program's tests.

`install(namespace, version)` fills a module's namespace with what that version has, and nothing else, so a call a
version lacks raises AttributeError as the real module does:
- 7.1: `build_engine` and `max_workspace_size`; engines run through bindings (`execute_async_v2`); no
  `build_serialized_network`, no memory pools, no named tensors.
- 8.5: both build APIs and both run APIs (bindings and named tensors), memory pools; `nptype` names `np.bool`,
  which numpy 1.24 removed (NVIDIA/TensorRT issues 2557, 2701).
- 10.3: `build_serialized_network`, memory pools and named tensors only; `build_engine`, `max_workspace_size` and
  the binding calls are gone; the explicit-batch flag still exists but is ignored.

The ONNX parser reads the real graph (a minimal protobuf reader: input and output names and shapes, opset) and
refuses opsets above what the version's parser takes. The builder checks what TensorRT checks: explicit batch, an
optimization profile that fits the graph, and for INT8 a calibrator whose batch equals the calibration profile's opt
batch, whose device buffers it reads (fake_gpu refuses to read past a buffer's end). Engines read their input from
the device pointers they are given and write their outputs there: by default each output value is a function of its
image's mean input (tests recompute it), or, with FAKE_TRT_ORT_PYTHON set, the graph's own outputs computed by
onnxruntime in a helper process (shared/ort_engine.py) on that interpreter.
"""
import hashlib
import io
import json
import os
import struct
import subprocess
import sys

import numpy as np

import fake_gpu

MAX_OPSET = ((7, 11), (8, 13), (8.4, 17), (10, 20))  # the highest opset each version's ONNX parser takes


# ---------------------------------------------------------------- a minimal protobuf reader for ONNX graphs

def _varint(data, position):
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data):
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 1:
            value, position = data[position:position + 8], position + 8
        elif wire == 2:
            length, position = _varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire == 5:
            value, position = data[position:position + 4], position + 4
        else:
            raise ValueError("unsupported protobuf wire type {}".format(wire))
        yield number, value


def _value_info(data):
    name, dims = None, []
    for number, value in _fields(data):
        if number == 1:
            name = bytes(value).decode("utf-8")
        elif number == 2:
            for type_number, tensor in _fields(value):
                for tensor_number, shape in _fields(tensor) if type_number == 1 else ():
                    for shape_number, dim in _fields(shape) if tensor_number == 2 else ():
                        size = -1
                        for dim_number, dim_value in _fields(dim):
                            if dim_number == 1:
                                size = dim_value
                        dims.append(size)
    return name, dims


def read_onnx(data):
    """{"opset", "inputs": [(name, dims)], "outputs": [(name, dims)]} of ONNX bytes (-1 for a symbolic dim)."""
    view = memoryview(data)
    opset, graph = 0, None
    for number, value in _fields(view):
        if number == 8:
            domain, version = b"", 0
            for field, item in _fields(value):
                if field == 1:
                    domain = bytes(item)
                elif field == 2:
                    version = item
            if domain in (b"", b"ai.onnx"):
                opset = max(opset, version)
        elif number == 7:
            graph = value
    if graph is None:
        raise ValueError("no graph")
    initializers, inputs, outputs = set(), [], []
    for number, value in _fields(graph):
        if number == 5:
            for field, item in _fields(value):
                if field == 8:
                    initializers.add(bytes(item).decode("utf-8"))
        elif number == 11:
            inputs.append(_value_info(value))
        elif number == 12:
            outputs.append(_value_info(value))
    return {"opset": opset, "inputs": [item for item in inputs if item[0] not in initializers], "outputs": outputs}


# ---------------------------------------------------------------- what engines compute

def mean_outputs(batch, output_dims):
    """Every value of image i's outputs: its mean input plus a per-output offset (tests recompute this)."""
    means = batch.reshape(len(batch), -1).mean(axis=1, dtype=np.float64).astype(np.float32)
    results = []
    for offset, dims in enumerate(output_dims):
        shape = (len(batch),) + tuple(dims[1:])
        results.append(np.broadcast_to((means + np.float32(offset))[(slice(None),) + (None,) * (len(shape) - 1)],
                                       shape).astype(np.float32))
    return results


class OrtHelper(object):
    """The graph run by onnxruntime in a helper process (the server's interpreter), one request at a time."""

    _instances = {}

    @classmethod
    def for_graph(cls, path):
        if path not in cls._instances:
            cls._instances[path] = cls(path)
        return cls._instances[path]

    def __init__(self, path):
        helper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort_engine.py")
        environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # the server's own
        self.process = subprocess.Popen([os.environ["FAKE_TRT_ORT_PYTHON"], helper, path], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=environment)

    def run(self, batch):
        send_array(self.process.stdin, np.ascontiguousarray(batch, np.float32))
        self.process.stdin.flush()
        count = int(receive_array(self.process.stdout)[0])
        return [receive_array(self.process.stdout) for _ in range(count)]


def send_array(stream, array):
    """An array as .npy bytes after their 8-byte length (pipes are not files numpy can read from directly)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    stream.write(struct.pack("<Q", len(buffer.getvalue())) + buffer.getvalue())


def receive_array(stream):
    header = stream.read(8)
    if len(header) != 8:
        raise EOFError("the onnxruntime helper ended")
    return np.lib.format.read_array(io.BytesIO(stream.read(struct.unpack("<Q", header)[0])))


def compute(engine, batch):
    if os.environ.get("FAKE_TRT_ORT_PYTHON"):
        return OrtHelper.for_graph(engine.onnx_path).run(batch)
    return mean_outputs(batch, [dims for _, dims in engine.outputs])


# ---------------------------------------------------------------- the module

def install(namespace, version):
    major, minor = [int(part) for part in version.split(".")[:2]]
    number = major + minor / 10.0
    max_opset = [opset for since, opset in MAX_OPSET if number >= since][-1]
    bindings, named, serialized_builder = major < 10, number >= 8.5, major >= 8
    pools, old_builder = number >= 8.4, major < 10
    errors = []

    class Logger(object):
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self, severity=1):
            self.severity = severity

        def log(self, severity, message):
            errors.append(message)
            sys.stderr.write("[fake TensorRT] {}\n".format(message))

    class DataType(object):
        FLOAT, HALF, INT8, INT32, BOOL = "FLOAT", "HALF", "INT8", "INT32", "BOOL"

    if number >= 8.5:
        DataType.UINT8 = "UINT8"

    def nptype(trt_type):
        """TensorRT's own mapping; before 8.6 it names np.bool, an AttributeError under numpy >= 1.24."""
        mapping = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8,
                   DataType.INT32: np.int32, DataType.BOOL: np.bool if number < 8.6 else np.bool_}
        return mapping[trt_type]

    class NetworkDefinitionCreationFlag(object):
        EXPLICIT_BATCH = 0

    class BuilderFlag(object):
        FP16, INT8 = "FP16", "INT8"

    class MemoryPoolType(object):
        WORKSPACE = "WORKSPACE"

    class TensorIOMode(object):
        NONE, INPUT, OUTPUT = "NONE", "INPUT", "OUTPUT"

    class IInt8EntropyCalibrator2(object):
        def __init__(self):
            pass

    class Tensor(object):
        def __init__(self, name, dims):
            self.name, self.shape = name, tuple(dims)

    class Network(object):
        def __init__(self, flags):
            self.explicit_batch = major >= 10 or bool(flags & 1)
            self.inputs, self.outputs, self.onnx = [], [], None

        @property
        def num_inputs(self):
            return len(self.inputs)

        def get_input(self, index):
            return self.inputs[index]

    class OnnxParser(object):
        def __init__(self, network, logger):
            self.network, self.errors = network, []

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, index):
            return self.errors[index]

        def parse(self, data):
            if not self.network.explicit_batch:
                self.errors.append("Network must have explicit batch dimension")
                return False
            try:
                graph = read_onnx(data)
            except (ValueError, IndexError) as error:
                self.errors.append("not an ONNX model ({})".format(error))
                return False
            if graph["opset"] > max_opset:
                self.errors.append("Unsupported ONNX opset {} (this parser takes up to {})".format(graph["opset"],
                                                                                                 max_opset))
                return False
            self.network.inputs = [Tensor(name, dims) for name, dims in graph["inputs"]]
            self.network.outputs = [Tensor(name, dims) for name, dims in graph["outputs"]]
            self.network.onnx = bytes(data)
            return True

    class Profile(object):
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, low, opt, high):
            self.shapes[name] = (tuple(low), tuple(opt), tuple(high))

    config_slots = ["flags", "profiles", "int8_calibrator", "calibration_profile", "workspace", "pools"]
    if old_builder:
        config_slots.append("max_workspace_size")

    class Config(object):
        __slots__ = config_slots

        def __init__(self):
            self.flags, self.profiles, self.int8_calibrator, self.calibration_profile = set(), [], None, None
            self.pools = {}
            if old_builder:
                self.max_workspace_size = 0

        def set_flag(self, flag):
            self.flags.add(flag)

        def add_optimization_profile(self, profile):
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def set_calibration_profile(self, profile):
            self.calibration_profile = profile

    if pools:
        def set_memory_pool_limit(self, pool, limit):
            self.pools[pool] = limit
        Config.set_memory_pool_limit = set_memory_pool_limit

    def fail(message):
        Logger().log(Logger.ERROR, message)
        return None

    def calibrate(network, config, profile):
        calibrator = config.int8_calibrator
        if calibrator is None:
            return fail("INT8 without a calibrator")
        calibration = config.calibration_profile or profile
        name = network.inputs[0].name
        opt = calibration.shapes[name][1]
        if calibrator.get_batch_size() != opt[0]:
            return fail("calibrator batch {} differs from the calibration profile's opt shape {}: TensorRT would "
                        "read {} images from each batch".format(calibrator.get_batch_size(), opt, opt[0]))
        if calibrator.read_calibration_cache():
            return "cache"
        nbytes = int(np.prod(opt)) * 4
        batches, peak = 0, 0.0
        while True:
            pointers = calibrator.get_batch([name])
            if not pointers:
                break
            try:
                values = np.frombuffer(fake_gpu.read(int(pointers[0]), nbytes), np.float32)
            except MemoryError as error:
                return fail(str(error))
            batches, peak = batches + 1, max(peak, float(np.abs(values).max()))
        if not batches:
            return fail("calibration got no batch")
        calibrator.write_calibration_cache(json.dumps({"batches": batches, "peak": peak}).encode("utf-8"))
        return "calibrated"

    def build(builder, network, config):
        if not network.inputs:
            return fail("the network has no input (was the ONNX parsed?)")
        if old_builder and not pools and config.max_workspace_size <= 0:
            return fail("no workspace: set max_workspace_size")
        if len(config.profiles) != 1:
            return fail("one optimization profile expected, got {}".format(len(config.profiles)))
        profile, source = config.profiles[0], network.inputs[0]
        if source.name not in profile.shapes:
            return fail("the profile has no shapes for {}".format(source.name))
        low, opt, high = profile.shapes[source.name]
        for shape in (low, opt, high):
            if len(shape) != len(source.shape) or any(d != -1 and d != s for d, s in zip(source.shape, shape)):
                return fail("profile shape {} does not fit input {}".format(shape, source.shape))
        if not low[0] <= opt[0] <= high[0]:
            return fail("profile batches must be min <= opt <= max, got {}".format((low[0], opt[0], high[0])))
        precision = "int8" if BuilderFlag.INT8 in config.flags else "fp16" if BuilderFlag.FP16 in config.flags \
            else "fp32"
        if precision == "int8" and calibrate(network, config, profile) is None:
            return None
        digest = hashlib.sha256(network.onnx).hexdigest()
        store = os.environ.get("FAKE_TRT_ONNX_STORE")
        onnx_path = os.path.join(store, digest + ".onnx") if store else None
        if onnx_path and not os.path.exists(onnx_path):
            with open(onnx_path, "wb") as stream:
                stream.write(network.onnx)
        return bytearray(json.dumps({
            "fake_tensorrt": version, "precision": precision, "onnx_sha256": digest, "onnx_path": onnx_path,
            "input": [source.name, list(source.shape)], "profile": [list(low), list(opt), list(high)],
            "outputs": [[tensor.name, list(tensor.shape)] for tensor in network.outputs]}).encode("utf-8"))

    class Builder(object):
        def __init__(self, logger):
            self.logger = logger
            self.platform_has_fast_fp16 = self.platform_has_fast_int8 = True

        def create_network(self, flags=0):
            return Network(flags)

        @staticmethod
        def create_builder_config():
            return Config()

        @staticmethod
        def create_optimization_profile():
            return Profile()

    if serialized_builder:
        Builder.build_serialized_network = build
    if old_builder:
        def build_engine(self, network, config):
            serialized = build(self, network, config)
            return ICudaEngine(bytes(serialized)) if serialized is not None else None
        Builder.build_engine = build_engine

    class ICudaEngine(object):
        def __init__(self, serialized):
            self.serialized = serialized
            description = json.loads(serialized.decode("utf-8"))
            self.precision, self.onnx_path = description["precision"], description["onnx_path"]
            self.input = (description["input"][0], tuple(description["input"][1]))
            self.profile = [tuple(shape) for shape in description["profile"]]
            self.outputs = [(name, tuple(dims)) for name, dims in description["outputs"]]
            self.names = [self.input[0]] + [name for name, _ in self.outputs]

        def serialize(self):
            return bytearray(self.serialized)

        def create_execution_context(self):
            return Context(self)

        def _dims(self, name):
            return self.input[1] if name == self.input[0] else dict(self.outputs)[name]

    if bindings:
        def num_bindings(self):
            return len(self.names)
        ICudaEngine.num_bindings = property(num_bindings)
        ICudaEngine.get_binding_name = lambda self, index: self.names[index]
        ICudaEngine.get_binding_index = lambda self, name: self.names.index(name)
        ICudaEngine.binding_is_input = lambda self, index: index == 0
        ICudaEngine.get_binding_dtype = lambda self, index: DataType.FLOAT
        ICudaEngine.get_binding_shape = lambda self, index: self._dims(self.names[index])

        def get_profile_shape(self, profile, binding):
            if profile != 0 or binding != 0:
                raise ValueError("profile shapes exist for profile 0 and the input only")
            return list(self.profile)
        ICudaEngine.get_profile_shape = get_profile_shape
    if named:
        def num_io_tensors(self):
            return len(self.names)
        ICudaEngine.num_io_tensors = property(num_io_tensors)
        ICudaEngine.get_tensor_name = lambda self, index: self.names[index]
        ICudaEngine.get_tensor_mode = lambda self, name: TensorIOMode.INPUT if name == self.input[0] \
            else TensorIOMode.OUTPUT
        ICudaEngine.get_tensor_dtype = lambda self, name: DataType.FLOAT
        ICudaEngine.get_tensor_shape = lambda self, name: self._dims(name)

        def get_tensor_profile_shape(self, name, profile):
            if profile != 0 or name != self.input[0]:
                raise ValueError("profile shapes exist for profile 0 and the input only")
            return list(self.profile)
        ICudaEngine.get_tensor_profile_shape = get_tensor_profile_shape

    class Context(object):
        def __init__(self, engine):
            self.engine, self.input_shape, self.addresses, self.runs = engine, None, {}, 0

        def _set_shape(self, shape):
            low, _, high = self.engine.profile
            if len(shape) != len(low) or any(not a <= s <= b for a, s, b in zip(low, shape, high)):
                return False
            self.input_shape = tuple(shape)
            return True

        def _shape(self, name):
            if name == self.engine.input[0]:
                return self.input_shape or self.engine.input[1]
            dims = dict(self.engine.outputs)[name]
            return ((self.input_shape or (-1,))[0],) + tuple(dims[1:])

        def _execute(self):
            if self.input_shape is None or set(self.addresses) != set(self.engine.names) or \
                    not all(self.addresses.values()):
                return fail("execute without an input shape or without every tensor's address")
            count = int(np.prod(self.input_shape))
            batch = np.frombuffer(fake_gpu.read(self.addresses[self.engine.input[0]], count * 4),
                                  np.float32).reshape(self.input_shape)
            for (name, _), values in zip(self.engine.outputs, compute(self.engine, batch)):
                expected = self._shape(name)
                if tuple(values.shape) != tuple(expected):
                    return fail("output {} has shape {}, expected {}".format(name, values.shape, expected))
                fake_gpu.write(self.addresses[name], np.ascontiguousarray(values, np.float32).tobytes())
            self.runs += 1
            return True

    if bindings:
        Context.set_binding_shape = lambda self, index, shape: index == 0 and self._set_shape(shape)
        Context.get_binding_shape = lambda self, index: self._shape(self.engine.names[index])

        def execute_async_v2(self, bindings, stream_handle):
            self.addresses = dict(zip(self.engine.names, [int(address) for address in bindings]))
            return bool(self._execute())
        Context.execute_async_v2 = execute_async_v2
    if named:
        Context.set_input_shape = lambda self, name, shape: name == self.engine.input[0] and self._set_shape(shape)
        Context.get_tensor_shape = lambda self, name: self._shape(name)

        def set_tensor_address(self, name, address):
            self.addresses[name] = int(address)
            return True
        Context.set_tensor_address = set_tensor_address
        Context.execute_async_v3 = lambda self, stream_handle: bool(self._execute())

    class Runtime(object):
        def __init__(self, logger):
            self.logger = logger

        @staticmethod
        def deserialize_cuda_engine(serialized):
            try:
                description = json.loads(bytes(serialized).decode("utf-8"))
            except ValueError:
                return fail("not a serialized engine")
            if description.get("fake_tensorrt") != version:
                return fail("engine built by TensorRT {}, this is {}".format(description.get("fake_tensorrt"),
                                                                          version))
            return ICudaEngine(bytes(serialized))

    exported = dict(
        __version__=version, Logger=Logger, DataType=DataType, nptype=nptype, BuilderFlag=BuilderFlag,
        NetworkDefinitionCreationFlag=NetworkDefinitionCreationFlag, IInt8EntropyCalibrator2=IInt8EntropyCalibrator2,
        OnnxParser=OnnxParser, Builder=Builder, Runtime=Runtime, ICudaEngine=ICudaEngine, errors=errors,
    )
    if pools:
        exported["MemoryPoolType"] = MemoryPoolType
    if named:
        exported["TensorIOMode"] = TensorIOMode
    namespace.update(exported)
