"""The pycuda.driver calls the Jetson program makes, over host memory (fake_gpu); FAKE_PYCUDA_REPORT names a file
that gets what is still allocated at exit, and what was made: contexts, streams."""
import os

import numpy as np

import fake_gpu

_STATE = {"contexts": 0, "streams": 0, "pinned": 0}


class Error(Exception):
    pass


def init():
    pass


class Context(object):
    def __init__(self):
        self.depth = 1
        _STATE["contexts"] += 1

    def push(self):
        self.depth += 1

    def pop(self):
        self.depth -= 1

    def detach(self):
        _STATE["contexts"] -= 1


class Device(object):
    @staticmethod
    def count():
        return 1

    def __init__(self, index):
        self.index = index

    def name(self):
        return "Fake GPU (pycuda)"

    def make_context(self):
        return Context()


class DeviceAllocation(object):
    def __init__(self, size):
        self.address, self.size = fake_gpu.allocate(size), size

    def __int__(self):
        return self.address

    def free(self):
        if self.address is not None:
            fake_gpu.release(self.address)
            self.address = None


def mem_alloc(size):
    return DeviceAllocation(size)


def memcpy_htod(allocation, array):
    fake_gpu.write(int(allocation), np.ascontiguousarray(array).tobytes())


def memcpy_htod_async(allocation, array, stream=None):
    memcpy_htod(allocation, array)


def memcpy_dtoh_async(array, allocation, stream=None):
    data = fake_gpu.read(int(allocation), array.nbytes)
    array[...] = np.frombuffer(data, array.dtype).reshape(array.shape)


class HostAllocation(bytearray):
    """Page-locked host memory: an array's base, freed by free()."""

    def __init__(self, size):
        super(HostAllocation, self).__init__(size)
        _STATE["pinned"] += 1
        self.freed = False

    def free(self):
        if not self.freed:
            self.freed = True
            _STATE["pinned"] -= 1


def pagelocked_empty(shape, dtype):
    dtype = np.dtype(dtype)
    holder = HostAllocation(max(1, int(np.prod(shape)) * dtype.itemsize))
    return np.ndarray(tuple(shape), dtype, buffer=holder)


class Stream(object):
    def __init__(self):
        _STATE["streams"] += 1
        self.handle = 7

    def synchronize(self):
        pass

    def __del__(self):
        _STATE["streams"] -= 1


def mem_get_info():
    return 6 << 30, 8 << 30


if os.environ.get("FAKE_PYCUDA_REPORT"):
    fake_gpu.report_at_exit(os.environ["FAKE_PYCUDA_REPORT"], lambda: {
        "device_buffers": len(fake_gpu.ALLOCATIONS), "pinned_buffers": _STATE["pinned"],
        "streams": _STATE["streams"], "contexts": _STATE["contexts"]})
