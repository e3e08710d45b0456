"""Helpers for streaming tests on 127.0.0.1: gst-launch senders, a lossy UDP relay, frame collection."""
from __future__ import annotations

import random
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import pytest

from core.stream.base import Frame, FrameSource
from core.stream.pipelines import software_send_pipeline

GST_LAUNCH = shutil.which("gst-launch-1.0")


def require_gst_launch() -> str:
    if GST_LAUNCH is None:
        print("gst-launch-1.0 not found: install gstreamer1.0-tools and plugins-good/bad/ugly")
        pytest.skip("gst-launch-1.0 is not installed (gstreamer1.0-tools)")
    return GST_LAUNCH


def start_gst_sender(port: int, codec: str = "h265", *, frames: int, width: int = 640, height: int = 480,
                     fps: int = 30) -> subprocess.Popen:
    command = [require_gst_launch(), "-q"] + software_send_pipeline(
        host="127.0.0.1", port=port, codec=codec, frames=frames, width=width, height=height, fps=fps).split()
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Collected:
    frames: list[Frame] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)

    def fps(self) -> float:
        if len(self.arrivals) < 2:
            return 0.0
        return (len(self.arrivals) - 1) / (self.arrivals[-1] - self.arrivals[0])

    def first_after(self, moment: float) -> float | None:
        return next((t for t in self.arrivals if t > moment), None)


def collect(source: FrameSource, seconds: float, *, until_silent: float | None = None) -> Collected:
    """Read frames for `seconds` (or until `until_silent` seconds pass without a frame after the first one)."""
    collected = Collected()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = source.read(timeout=0.1)
        now = time.monotonic()
        if frame is not None:
            collected.frames.append(frame)
            collected.arrivals.append(now)
        elif until_silent and collected.arrivals and now - collected.arrivals[-1] > until_silent:
            break
    return collected


class LossyRelay:
    """Forwards UDP datagrams from a port to a destination, dropping `loss` of them and swapping `reorder` of
    them with the next one (seeded, so a failure can be replayed)."""

    def __init__(self, destination: int, *, loss: float, reorder: float, seed: int = 1) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self._destination = ("127.0.0.1", destination)
        self._random = random.Random(seed)
        self.loss, self.reorder = loss, reorder
        self.forwarded = self.dropped = self.swapped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        held: bytes | None = None
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while not self._stop.is_set():
            try:
                datagram = self._socket.recv(65536)
            except TimeoutError:
                if held is not None:
                    out.sendto(held, self._destination)
                    held = None
                continue
            if self._random.random() < self.loss:
                self.dropped += 1
                continue
            if held is None and self._random.random() < self.reorder:
                held = datagram  # goes out after the next one
                self.swapped += 1
                continue
            out.sendto(datagram, self._destination)
            self.forwarded += 1
            if held is not None:
                out.sendto(held, self._destination)
                self.forwarded += 1
                held = None
        out.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.close()
