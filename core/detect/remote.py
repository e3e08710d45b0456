"""Connections to remote inference servers, one per server for every detector of one owner.

The owner (the live service of a dashboard, a benchmark's receiver process) makes one `RemoteClients` and hands it to
`load_detector`; every detector it loads that talks to the same server shares that server's client, so a dozen live
pipelines are a dozen concurrent requests on one connection (which the server's dynamic batcher groups into
batches). A detector loaded without one makes a set of its own and closes it with itself.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class RemoteClients:
    """Clients by server target, created on first use; thread-safe. `close()` closes every one."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, target: str, connect: Callable[[str], Any]) -> Any:
        """The client of `target`, made with `connect(target)` the first time it is asked for."""
        with self._lock:
            client = self._clients.get(target)
            if client is None:
                client = self._clients[target] = connect(target)
            return client

    def close(self) -> None:
        """Close every client (their detectors must be closed first); the set is empty afterwards."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
