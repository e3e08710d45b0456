"""Input tensors through Triton's system shared memory, for a client on the same host as its server.

A frame sent inside the gRPC message is copied on each step of its way (to bytes, into the protobuf, through gRPC, out
of it again in tritonserver); through a registered shared-memory region it is written once and the request only names
the region. Measured with a 640x480 frame per request on the 2-core machine: 2.9 -> 0.9 ms of client CPU and 1.3 ->
0.7 ms of tritonserver CPU per request (`assets/benchmarks/triton/profile.md`).

One region per detector (its calls are serialized), grown when a larger batch comes. A server that restarted has
forgotten the region: the first request that finds it missing registers it again and is sent once more. A region is
removed on `close()`, or when its detector is dropped or the process exits without closing it.
"""
from __future__ import annotations

import logging
import os
import shutil
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
MISSING_REGION_WORDS = ("shared memory region", "unable to find")
SHM_FOLDER = "/dev/shm"
SHM_SPARE_FACTOR = 4  # a region is made only while /dev/shm has this many times its size free (tmpfs overcommits:
                      # writing into a full one is a SIGBUS, not an error)


class SharedMemoryRefused(Exception):
    """Shared memory cannot carry this detector's tensors (the server cannot map it, or /dev/shm is full)."""


def same_host(target: str) -> bool:
    """Whether the gRPC target ("HOST:PORT") is this host's loopback, where client and server share /dev/shm."""
    return target.rsplit(":", 1)[0].lower() in LOOPBACK_HOSTS


def missing_region(message: str) -> bool:
    """Whether a server's error says a shared-memory region it was given is not registered (a restarted server)."""
    text = message.lower()
    return all(word in text for word in MISSING_REGION_WORDS)


class SharedInput:
    """The shared-memory region one detector writes its input tensors into."""

    def __init__(self, client: Any, shm_module: Any, owner: object) -> None:
        self._client, self._shm = client, shm_module
        self._prefix = f"eds-{os.getpid()}-{id(owner):x}"
        self._handle: Any = None
        self._remove: weakref.finalize | None = None
        self._name, self._size, self._generation = "", 0, 0
        self.registered = False

    def put(self, request: Any, parts: Sequence[np.ndarray], timeout_s: float) -> None:
        """Write `parts` (the rows of the request's tensor, in order) into the region and point `request` at them;
        creates, grows and registers the region as needed (registration raises the client's server exceptions)."""
        size = sum(part.nbytes for part in parts)
        if size > self._size:
            self._release(timeout_s)
            free = shutil.disk_usage(SHM_FOLDER).free
            if free < SHM_SPARE_FACTOR * size:
                raise SharedMemoryRefused(f"{SHM_FOLDER} has {free / 2**20:.0f} MiB free")
            self._generation += 1
            self._name = f"{self._prefix}-{self._generation}"
            self._handle = self._shm.create_shared_memory_region(self._name, f"/{self._name}", size)
            self._remove = weakref.finalize(self, self._shm.destroy_shared_memory_region, self._handle)
            self._size = size
        if not self.registered:
            try:
                self._client.unregister_system_shared_memory(self._name, client_timeout=timeout_s)
            except Exception:  # not registered: the usual case
                pass
            self._client.register_system_shared_memory(self._name, f"/{self._name}", self._size,
                                                       client_timeout=timeout_s)
            self.registered = True
        self._shm.set_shared_memory_region(self._handle, [np.ascontiguousarray(part) for part in parts])
        request.set_shared_memory(self._name, size)

    def _release(self, timeout_s: float) -> None:
        if self._handle is None:
            return
        if self.registered:
            try:
                self._client.unregister_system_shared_memory(self._name, client_timeout=timeout_s)
            except Exception as error:  # a server that is gone has forgotten it anyway
                log.debug("unregistering %s: %s", self._name, error)
            self.registered = False
        self._remove()
        self._handle, self._remove, self._size = None, None, 0

    def close(self, timeout_s: float) -> None:
        self._release(timeout_s)
