"""A real RTSP server for tests, started as its own process (rtsp_server.py, run by the distribution's Python)."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

# GStreamer's Python bindings import only in the distribution's own Python, not in a separately built one.
SYSTEM_PYTHON = os.environ.get("EDS_SYSTEM_PYTHON", "/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RtspServer:
    """rtsp_server.py on 127.0.0.1:`port` in its own process; `start()` returns once it listens."""

    def __init__(self, port: int, codec: str) -> None:
        self.port, self.codec = port, codec
        self.process: subprocess.Popen | None = None

    def start(self) -> RtspServer:
        self.process = subprocess.Popen([SYSTEM_PYTHON, str(SERVER_SCRIPT), str(self.port), self.codec],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()  # "ready", or nothing if it failed
        if line.strip() != "ready":
            self.process.wait(timeout=10)
            pytest.fail(f"the RTSP server did not start (install python3-gi and gir1.2-gst-rtsp-server-1.0 with "
                        f"scripts/setup.sh --dev): {self.process.stderr.read()[-500:]}")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process is not None:
            self.process.stdout.close()
            self.process.stderr.close()
