"""The Jetson program's CUDA bindings on a real GPU (they run without pycuda on a stock JetPack): the CUDA driver's
device count, and libcudart through ctypes: device name and memory, buffers, page-locked arrays, a stream, copies
there and back. Skips where no CUDA driver sees a GPU. Needs nothing of the project but `jetson_kit/` and numpy, so it
also runs on a GPU machine without the server's requirements (`pytest --noconftest`)."""
from __future__ import annotations

import numpy as np
import pytest

from jetson_kit.cuda import CudartGpu, driver_device_count

pytestmark = pytest.mark.gpu


@pytest.fixture()
def gpu():
    if driver_device_count() == 0:
        pytest.skip("no CUDA GPU: the CUDA driver (libcuda) sees none here")
    device = CudartGpu()
    yield device
    device.close()


def test_round_trip_through_device_memory_on_a_stream(gpu) -> None:
    assert gpu.name and gpu.kind == "cudart"
    free, total = gpu.memory()
    assert 0 < free <= total
    source = gpu.host_array((4, 3, 300, 300), np.float32)
    target = gpu.host_array((4, 3, 300, 300), np.float32)
    source[...] = np.random.default_rng(0).random(source.shape, np.float32)
    target[...] = 0
    device = gpu.alloc(source.nbytes)
    stream = gpu.stream()
    try:
        gpu.upload(device, source, stream)
        gpu.download(target, device, stream)
        gpu.synchronize(stream)
        np.testing.assert_array_equal(target, source)
        gpu.upload_now(device, np.zeros_like(source))
        gpu.download(target, device, stream)
        gpu.synchronize(stream)
        assert not target.any()
    finally:
        device.free()
        gpu.free_host(source)
        gpu.free_host(target)
        gpu.destroy_stream(stream)
