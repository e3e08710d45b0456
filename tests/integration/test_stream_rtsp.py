"""RTSP from a real server on 127.0.0.1 (GStreamer's RTSP server library, see rtsp_server.py): received and decoded
over TCP and UDP, and received again by itself after the server is killed and started again; the camera's
credentials never show in the health, the source's name or the logs."""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.stream import open_source
from core.stream.base import FrameSource

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


@pytest.fixture
def rtsp_servers() -> Iterator[Callable[[int, str], RtspServer]]:
    """Starts RTSP servers for the test and kills whichever are left at its end."""
    started: list[RtspServer] = []

    def start(port: int, codec: str = "h264") -> RtspServer:
        started.append(RtspServer(port, codec).start())
        return started[-1]

    yield start
    for server in started:
        server.kill()


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def drain_until(source: FrameSource, frames: int, timeout: float) -> int:
    """Read frames until `frames` were read or `timeout` passed; how many were read."""
    count, deadline = 0, time.monotonic() + timeout
    while count < frames and time.monotonic() < deadline:
        count += source.read(timeout=0.2) is not None
    return count


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("transport", "codec"), [("tcp", "h265"), ("udp", "h264")])
def test_rtsp_stream_is_received_and_decoded(rtsp_servers, transport: str, codec: str) -> None:
    port = free_tcp_port()
    rtsp_servers(port, codec)
    with open_source(f"rtsp://127.0.0.1:{port}/cam?transport={transport}") as source:
        assert drain_until(source, 10, timeout=20) == 10
        health = source.health_snapshot()
    assert (health["width"], health["height"], health["transport"]) == (320, 240, transport)
    assert health["sessions"] == 1 and health["reconnects"] == 0 and health["frames_decoded"] >= 10


@pytest.mark.timeout(90)
def test_rtsp_source_reconnects_after_the_server_restarts(rtsp_servers, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_tcp_port()
    server = rtsp_servers(port)
    with open_source(f"rtsp://camuser:s3cret@127.0.0.1:{port}/cam?transport=tcp") as source:
        assert drain_until(source, 5, timeout=20) == 5
        server.kill()
        assert wait_for(lambda: not source.health.connected, timeout=10), "the lost session went unnoticed"
        decoded_before = source.health.frames_decoded
        assert wait_for(lambda: source.health.state == "no_signal", timeout=5)
        assert wait_for(lambda: source.health.connect_failures >= 1, timeout=10)  # it keeps trying meanwhile
        rtsp_servers(port)
        assert wait_for(lambda: source.health.frames_decoded >= decoded_before + 5, timeout=30), \
            f"no frames after the server came back: {source.health_snapshot()}"
        health = source.health_snapshot()
    assert health["reconnects"] >= 1 and health["sessions"] == health["reconnects"] + 1
    assert health["last_error"] and health["no_signal_events"] >= 1
    shown = json.dumps(health) + source.uri + caplog.text
    assert "s3cret" not in shown and "camuser" not in shown
    assert source.uri == f"rtsp://***@127.0.0.1:{port}/cam?transport=tcp"
