"""The triton client's shared-memory input: which servers get it, and what a restarted or distant server does to it
(a fake client and shared-memory module count the calls; the real path runs in the Triton integration tests)."""
from __future__ import annotations

import numpy as np
import pytest

from core.detect.triton_shm import SharedInput, missing_region, same_host


@pytest.mark.parametrize("target, local", [("127.0.0.1:8001", True), ("localhost:1", True), ("[::1]:8001", True),
                                           ("gpu-box:8001", False), ("10.0.0.2:8001", False)])
def test_only_a_server_on_this_hosts_loopback_shares_memory(target, local):
    assert same_host(target) is local


def test_a_missing_region_is_told_apart_from_other_errors():
    assert missing_region("Unable to find shared memory region: 'eds-1-2-1'")  # tritonserver's words
    assert not missing_region("Unable to open shared memory region: '/eds-1-2-1'")
    assert not missing_region("frame of 800x600 = 0.5 MP is above this server's limit")


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def register_system_shared_memory(self, name, key, size, client_timeout=None):
        self.calls.append(("register", name, key, str(size)))

    def unregister_system_shared_memory(self, name, client_timeout=None):
        self.calls.append(("unregister", name))


class FakeShm:
    def __init__(self) -> None:
        self.regions: dict[str, bytes] = {}

    def create_shared_memory_region(self, name, key, size):
        self.regions[name] = b"\0" * size
        return name

    def set_shared_memory_region(self, handle, arrays):
        self.regions[handle] = b"".join(array.tobytes() for array in arrays)

    def destroy_shared_memory_region(self, handle):
        del self.regions[handle]


class FakeRequest:
    def set_shared_memory(self, name, size):
        self.region = (name, size)


def test_a_region_is_registered_once_grown_for_larger_batches_and_registered_again_when_forgotten():
    client, shm = FakeClient(), FakeShm()
    shared = SharedInput(client, shm, object())
    frames = [np.full((2, 3, 3), value, np.uint8) for value in (1, 2)]
    for _ in range(3):
        request = FakeRequest()
        shared.put(request, frames[:1], 1.0)
    assert [call[0] for call in client.calls] == ["unregister", "register"]
    name = request.region[0]
    assert request.region == (name, 18) and shm.regions[name] == frames[0].tobytes()

    shared.put(request, frames, 1.0)  # a larger batch: a new, larger region replaces the old one
    assert request.region[1] == 36 and request.region[0] != name and list(shm.regions) == [request.region[0]]
    assert shm.regions[request.region[0]] == b"".join(frame.tobytes() for frame in frames)

    registrations = sum(call[0] == "register" for call in client.calls)
    shared.registered = False  # what the detector does after a failed request (a restarted server)
    shared.put(request, frames, 1.0)
    assert sum(call[0] == "register" for call in client.calls) == registrations + 1

    shared.close(1.0)
    assert shm.regions == {} and client.calls[-1] == ("unregister", request.region[0])


def test_a_server_that_cannot_map_the_region_gets_the_frames_over_grpc(tmp_path):
    """tritonserver in another container (its own /dev/shm) refuses the registration: the detector says so once and
    sends the frames inside the gRPC messages from then on."""
    import threading

    import tritonclient.grpc as grpc_client

    from core.detect.base import Detections
    from core.detect.frame_outputs import pad_detections
    from core.detect.triton_backend import TritonDetector

    class DistantClient(FakeClient):
        def register_system_shared_memory(self, name, key, size, client_timeout=None):
            raise grpc_client.InferenceServerException(f"Unable to open shared memory region: '{key}'",
                                                       "StatusCode.INTERNAL")

        def infer(self, model, inputs, outputs=None, client_timeout=None):
            self.calls.append(("infer", inputs[0].name(), str(len(inputs[0]._get_content() or b""))))
            found = pad_detections([Detections(np.array([[1, 2, 3, 4]], np.float32), np.array([0.9], np.float32),
                                               np.array([1]))])
            return type("Result", (), {"as_numpy": lambda self, name: found[name]})()

    detector = TritonDetector.__new__(TritonDetector)
    client = DistantClient()
    detector.url, detector.model, detector.timeout_s, detector._grpc = "grpc://127.0.0.1:1", "ssd", 1.0, grpc_client
    detector._client, detector._lock, detector.class_names = client, threading.Lock(), ["BACKGROUND", "thing"]
    detector.score_threshold, detector.input, detector.max_batch = 0.4, "frames", 8
    detector._shared = SharedInput(client, FakeShm(), detector)
    assert detector.transport == "system shared memory"
    for _ in range(2):
        (found,) = detector.detect([np.zeros((4, 6, 3), np.uint8)])
        assert found.labels.tolist() == [1]
    assert detector.transport == "gRPC"
    assert [call for call in client.calls if call[0] == "infer"] == [("infer", "frames", str(4 * 6 * 3))] * 2
