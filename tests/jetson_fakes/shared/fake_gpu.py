"""Device memory of the fake CUDA libraries: real host memory at real addresses, with every allocation's size known,
so the fake TensorRT reads and writes through the pointers it is given and refuses to run past a buffer's end."""
import atexit
import ctypes
import json
import os

ALLOCATIONS = {}  # address -> size, of buffers the fake pycuda made (libcudart_fake.c keeps its own table)
_KEEP = {}  # address -> the ctypes object that owns the memory
_CUDART = []


def _cudart():
    if not _CUDART:
        path = os.environ.get("FAKE_CUDART")
        library = ctypes.CDLL(path) if path else None
        if library is not None:
            library.fake_allocation_size.restype = ctypes.c_size_t
            library.fake_allocation_size.argtypes = [ctypes.c_void_p]
        _CUDART.append(library)
    return _CUDART[0]


def allocate(size):
    buffer = (ctypes.c_uint8 * max(1, int(size)))()
    address = ctypes.addressof(buffer)
    ALLOCATIONS[address], _KEEP[address] = int(size), buffer
    return address


def release(address):
    if address not in ALLOCATIONS:
        raise RuntimeError("fake cuda: free of an address that is not allocated")
    del ALLOCATIONS[address], _KEEP[address]


def allocation_size(address):
    if address in ALLOCATIONS:
        return ALLOCATIONS[address]
    library = _cudart()
    return int(library.fake_allocation_size(ctypes.c_void_p(address))) if library is not None else 0


def read(address, nbytes):
    if allocation_size(address) < nbytes:
        raise MemoryError("fake TensorRT: {} bytes read from a device buffer of {}".format(
            nbytes, allocation_size(address)))
    return ctypes.string_at(address, nbytes)


def write(address, data):
    if allocation_size(address) < len(data):
        raise MemoryError("fake TensorRT: {} bytes written to a device buffer of {}".format(
            len(data), allocation_size(address)))
    ctypes.memmove(address, data, len(data))


def report_at_exit(path, counts):
    """Write what is still allocated when the process ends (a leak check for close())."""
    atexit.register(lambda: open(path, "a").write(json.dumps(counts()) + "\n"))
