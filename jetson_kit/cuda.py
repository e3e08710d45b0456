"""CUDA memory and streams for TensorRT: pycuda where it is installed, else a small ctypes binding of libcudart.

JetPack ships no pycuda (it builds with `pip3 install pycuda`, on JetPack 4 only below 2021.1), but every JetPack
has libcudart, so the program runs either way. Both devices offer the same few calls `EngineRunner` and the INT8
calibrator use: device buffers (`int()` is the address, `free()`), page-locked host arrays, one stream, async
copies and a synchronize. `driver_device_count` asks the CUDA driver (libcuda) how many GPUs there are, without
torch or pycuda. Python 3.6 and later; standard library and numpy only.
"""
import ctypes
import ctypes.util

import numpy as np

from jetson_kit.errors import KitError

CUDART_NAMES = ("libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so.10.2")
CUDA_DRIVER_NAMES = ("libcuda.so.1", "libcuda.so")
_HOST_TO_DEVICE, _DEVICE_TO_HOST = 1, 2
_DEVICE_PROPERTIES_BYTES = 8192  # larger than cudaDeviceProp of any CUDA release; the name is its first field
_NAME_BYTES = 256


def _load(names, what):
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    found = ctypes.util.find_library(what)
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError:
            pass
    return None


def driver_device_count():
    """CUDA GPUs the driver sees (0 when there is no driver or no GPU); asks libcuda directly."""
    library = _load(CUDA_DRIVER_NAMES, "cuda")
    if library is None:
        return 0
    count = ctypes.c_int(0)
    try:
        if library.cuInit(0) != 0 or library.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
    except AttributeError:
        return 0
    return int(count.value)


class PycudaGpu(object):
    """The device through pycuda.driver. With `own_context` it makes (and at `close` releases) a context on GPU 0;
    without, the caller keeps a context current around every call."""

    def __init__(self, driver, own_context=True):
        self._cuda = driver
        self._context = None
        if own_context:
            driver.init()
            if driver.Device.count() == 0:
                raise KitError("pycuda sees no CUDA GPU")
            self._context = driver.Device(0).make_context()
        self.name = str(driver.Device(0).name())
        self.kind = "pycuda"

    def alloc(self, nbytes):
        return self._cuda.mem_alloc(int(nbytes))

    def host_array(self, shape, dtype):
        return self._cuda.pagelocked_empty(tuple(shape), np.dtype(dtype))

    @staticmethod
    def free_host(array):
        allocation = getattr(array, "base", None)
        if hasattr(allocation, "free"):
            allocation.free()

    def stream(self):
        return self._cuda.Stream()

    @staticmethod
    def stream_handle(stream):
        return stream.handle

    def upload(self, device, array, stream):
        self._cuda.memcpy_htod_async(device, array, stream)

    def upload_now(self, device, array):
        self._cuda.memcpy_htod(device, np.ascontiguousarray(array))

    def download(self, array, device, stream):
        self._cuda.memcpy_dtoh_async(array, device, stream)

    @staticmethod
    def synchronize(stream):
        stream.synchronize()

    @staticmethod
    def destroy_stream(stream):
        """pycuda destroys a stream when its object goes; the caller drops its reference."""

    def memory(self):
        free, total = self._cuda.mem_get_info()
        return int(free), int(total)

    def close(self):
        if self._context is not None:
            self._context.pop()
            self._context.detach()
            self._context = None


class DeviceBuffer(object):
    """A cudaMalloc'd buffer: `int()` is its address."""

    def __init__(self, address, nbytes, release):
        self.address, self.nbytes, self._release = address, nbytes, release

    def __int__(self):
        return int(self.address)

    def free(self):
        if self.address is not None:
            self._release(self.address)
            self.address = None


class CudartGpu(object):
    """The device through libcudart with ctypes (the primary context of GPU 0)."""

    def __init__(self, library=None):
        self._lib = library or _load(CUDART_NAMES, "cudart")
        if self._lib is None:
            raise KitError("neither pycuda nor libcudart is available (JetPack installs libcudart with CUDA: "
                           "check /usr/local/cuda/lib64 is on the loader path, or pip3 install pycuda)")
        lib = self._lib
        lib.cudaGetErrorString.restype = ctypes.c_char_p
        lib.cudaGetErrorString.argtypes = [ctypes.c_int]
        # CUDA 12 renamed the call behind cudaGetDeviceProperties (the name is the first field either way)
        properties_call = "cudaGetDeviceProperties_v2" if hasattr(lib, "cudaGetDeviceProperties_v2") \
            else "cudaGetDeviceProperties"
        for name, arguments in (
                ("cudaGetDeviceCount", [ctypes.POINTER(ctypes.c_int)]),
                ("cudaSetDevice", [ctypes.c_int]),
                (properties_call, [ctypes.c_void_p, ctypes.c_int]),
                ("cudaMalloc", [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]),
                ("cudaFree", [ctypes.c_void_p]),
                ("cudaMallocHost", [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]),
                ("cudaFreeHost", [ctypes.c_void_p]),
                ("cudaMemcpy", [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]),
                ("cudaMemcpyAsync", [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                     ctypes.c_void_p]),
                ("cudaStreamCreate", [ctypes.POINTER(ctypes.c_void_p)]),
                ("cudaStreamSynchronize", [ctypes.c_void_p]),
                ("cudaStreamDestroy", [ctypes.c_void_p]),
                ("cudaMemGetInfo", [ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)])):
            function = getattr(lib, name)
            function.argtypes, function.restype = arguments, ctypes.c_int
        count = ctypes.c_int(0)
        self._check(lib.cudaGetDeviceCount(ctypes.byref(count)), "cudaGetDeviceCount")
        if count.value == 0:
            raise KitError("libcudart sees no CUDA GPU")
        self._check(lib.cudaSetDevice(0), "cudaSetDevice")
        properties = ctypes.create_string_buffer(_DEVICE_PROPERTIES_BYTES)
        self._check(getattr(lib, properties_call)(properties, 0), properties_call)
        self.name = properties.raw[:_NAME_BYTES].split(b"\0")[0].decode("utf-8", "replace")
        self.kind = "cudart"
        self._pinned = {}

    def _check(self, status, call):
        if status != 0:
            message = self._lib.cudaGetErrorString(status) or b"unknown error"
            raise KitError("{} failed: {} ({})".format(call, message.decode("utf-8", "replace"), status))

    def alloc(self, nbytes):
        pointer = ctypes.c_void_p()
        self._check(self._lib.cudaMalloc(ctypes.byref(pointer), int(nbytes)), "cudaMalloc")
        return DeviceBuffer(pointer.value, int(nbytes), self._free_device)

    def _free_device(self, address):
        self._check(self._lib.cudaFree(ctypes.c_void_p(address)), "cudaFree")

    def host_array(self, shape, dtype):
        dtype = np.dtype(dtype)
        count = int(np.prod(shape))
        nbytes = max(1, count * dtype.itemsize)
        pointer = ctypes.c_void_p()
        self._check(self._lib.cudaMallocHost(ctypes.byref(pointer), nbytes), "cudaMallocHost")
        raw = (ctypes.c_uint8 * nbytes).from_address(pointer.value)
        array = np.frombuffer(raw, dtype=np.uint8)[:count * dtype.itemsize].view(dtype).reshape(tuple(shape))
        self._pinned[array.ctypes.data] = pointer.value
        return array

    def free_host(self, array):
        address = self._pinned.pop(array.ctypes.data, None)
        if address is not None:
            self._check(self._lib.cudaFreeHost(ctypes.c_void_p(address)), "cudaFreeHost")

    def stream(self):
        handle = ctypes.c_void_p()
        self._check(self._lib.cudaStreamCreate(ctypes.byref(handle)), "cudaStreamCreate")
        return handle.value

    @staticmethod
    def stream_handle(stream):
        return int(stream or 0)

    def _copy(self, destination, source, nbytes, kind, stream):
        status = self._lib.cudaMemcpyAsync(ctypes.c_void_p(destination), ctypes.c_void_p(source), nbytes, kind,
                                           ctypes.c_void_p(stream))
        self._check(status, "cudaMemcpyAsync")

    def upload(self, device, array, stream):
        self._copy(int(device), _host_address(array), array.nbytes, _HOST_TO_DEVICE, stream)

    def upload_now(self, device, array):
        array = np.ascontiguousarray(array)
        status = self._lib.cudaMemcpy(ctypes.c_void_p(int(device)), ctypes.c_void_p(array.ctypes.data), array.nbytes,
                                      _HOST_TO_DEVICE)
        self._check(status, "cudaMemcpy")

    def download(self, array, device, stream):
        self._copy(_host_address(array), int(device), array.nbytes, _DEVICE_TO_HOST, stream)

    def synchronize(self, stream):
        self._check(self._lib.cudaStreamSynchronize(ctypes.c_void_p(stream)), "cudaStreamSynchronize")

    def destroy_stream(self, stream):
        self._check(self._lib.cudaStreamDestroy(ctypes.c_void_p(stream)), "cudaStreamDestroy")

    def memory(self):
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        self._check(self._lib.cudaMemGetInfo(ctypes.byref(free), ctypes.byref(total)), "cudaMemGetInfo")
        return int(free.value), int(total.value)

    def close(self):
        """The primary context stays for the process; buffers are freed by their owners."""


def _host_address(array):
    if not array.flags["C_CONTIGUOUS"]:
        raise KitError("an async copy needs a contiguous host array")
    return array.ctypes.data


def open_gpu(prefer="auto"):
    """The CUDA device: pycuda when importable (or `prefer="pycuda"`), else libcudart (or `prefer="cudart"`)."""
    if prefer not in ("auto", "pycuda", "cudart"):
        raise KitError("--cuda must be auto, pycuda or cudart, not {}".format(prefer))
    if prefer in ("auto", "pycuda"):
        try:
            import pycuda.driver as driver
        except ImportError as error:
            if prefer == "pycuda":
                raise KitError("pycuda is not importable ({})".format(error))
        else:
            return PycudaGpu(driver)
    return CudartGpu()
