"""Helpers for streaming tests on 127.0.0.1: gst-launch and in-process senders, a lossy UDP relay, frame
collection, waiting for a receiver to listen, Jetson-only elements swapped for software stand-ins."""
from __future__ import annotations

import random
import shlex
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import pytest

from core.stream import open_source
from core.stream.base import Frame, FrameSource
from core.stream.demo import draw_demo_frame
from core.stream.pipelines import software_send_pipeline
from core.stream.rtp_sender import RtpSender, SenderStats
from tests.polling import wait_for

GST_LAUNCH = shutil.which("gst-launch-1.0")


def require_gst_launch() -> str:
    """gst-launch-1.0's path; its absence fails the test (the README's setup installs it)."""
    if GST_LAUNCH is None:
        pytest.fail("gst-launch-1.0 is not installed: install gstreamer1.0-tools and plugins-good/bad/ugly/libav")
    return GST_LAUNCH


def start_gst_sender(port: int, codec: str = "h265", *, frames: int, width: int = 640, height: int = 480,
                     fps: int = 30, key_interval: int = 30) -> subprocess.Popen:
    command = [require_gst_launch(), "-q"] + software_send_pipeline(
        host="127.0.0.1", port=port, codec=codec, frames=frames, width=width, height=height, fps=fps,
        key_interval=key_interval).split()
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


FRAMES = 60
CAMERA = f"videotestsrc is-live=true num-buffers={FRAMES}"
ENCODERS = {"h265": "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30",
            "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30"}
# Jetson-only element -> software stand-in ({codec} is the stream's codec); properties of the original go with it
STAND_INS = {
    "v4l2src": CAMERA,
    "nvarguscamerasrc": CAMERA,
    "nvvidconv": "videoconvert",
    "nvegltransform": "identity",
    "nveglglessink": "fakesink",
    "nvv4l2decoder": "avdec_{codec}",
    "omxh265enc": ENCODERS["h265"],
    "nvv4l2h265enc": ENCODERS["h265"],
    "omxh264enc": ENCODERS["h264"],
    "nvv4l2h264enc": ENCODERS["h264"],
}


def with_stand_ins(command: str, codec: str) -> list[str]:
    """The argument list of a `gst-launch-1.0 ...` command with each Jetson-only element replaced and NVMM caps
    turned into system-memory caps."""
    arguments = shlex.split(command)
    assert arguments[0] == "gst-launch-1.0", command
    elements: list[list[str]] = [[]]
    for argument in arguments[1:]:
        if argument == "!":
            elements.append([])
        else:
            elements[-1].append(argument.replace("(memory:NVMM)", ""))
    swapped = [STAND_INS[element[0]].format(codec=codec).split() if element[0] in STAND_INS else element
               for element in elements]
    return [require_gst_launch()] + [part for index, element in enumerate(swapped)
                                     for part in (["!"] if index else []) + element]


def receive_with_our_receiver(sender_arguments: list[str], codec: str) -> dict:
    """Run a gst-launch sender (HOST and port= pointed at a receiver of ours) to its end; the receiver's health."""
    with open_source(f"rtp://127.0.0.1:0?codec={codec}") as source:
        arguments = [argument.replace("HOST", "127.0.0.1") for argument in sender_arguments]
        arguments = [f"port={source.port}" if argument.startswith("port=") else argument for argument in arguments]
        sender = subprocess.run(arguments, capture_output=True, timeout=60)
        collect(source, 1.0)
    assert sender.returncode == 0, sender.stderr.decode()[-800:]
    assert b"Setting pipeline to PLAYING" in sender.stdout
    return source.health_snapshot()


def send_demo_frames(sender: RtpSender, *, frames: int, width: int = 640, height: int = 480) -> SenderStats:
    """Send `frames` demo pictures through the project's own `sender`, paced at its frame rate."""
    started = time.monotonic()
    for index in range(frames):
        sender.send(draw_demo_frame(index, width, height)[0])
        time.sleep(max(started + (index + 1) / sender.fps - time.monotonic(), 0.0))
    return sender.stats


def wait_until_listening(port: int, timeout: float = 30.0) -> None:
    """Return once something listens on UDP 127.0.0.1:`port` (no ICMP "port unreachable" for a 1-byte probe)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("127.0.0.1", port))
        probe.settimeout(0.2)

        def listening() -> bool:
            probe.send(b"\0")
            try:
                probe.recv(1)
            except ConnectionRefusedError:
                return False
            except TimeoutError:
                return True
            return False

        if not wait_for(listening, timeout, interval=0.1):
            pytest.fail(f"nothing listens on UDP port {port} after {timeout:g} s")


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

    def silent() -> bool:
        frame = source.read(timeout=0.1)
        now = time.monotonic()
        if frame is not None:
            collected.frames.append(frame)
            collected.arrivals.append(now)
            return False
        return bool(until_silent and collected.arrivals and now - collected.arrivals[-1] > until_silent)

    wait_for(silent, seconds, interval=0.0)  # the read waits by itself
    return collected


class LossyRelay:
    """Forwards UDP datagrams from a port to a destination, dropping `loss` of them and swapping `reorder` of
    them with the next one (seeded, so a failure can be replayed). With `join_after_frames` it also drops every
    datagram of the first frames (counted by RTP timestamp, not by the clock, so a loaded machine drops the same
    frames), like a receiver that joins a running stream."""

    def __init__(self, destination: int, *, loss: float = 0.0, reorder: float = 0.0, seed: int = 1,
                 join_after_frames: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self._destination = ("127.0.0.1", destination)
        self._random = random.Random(seed)
        self.loss, self.reorder, self.join_after_frames = loss, reorder, join_after_frames
        self._timestamps_seen = 0
        self._last_timestamp: bytes | None = None
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
            if self._before_join(datagram) or self._random.random() < self.loss:
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

    def _before_join(self, datagram: bytes) -> bool:
        """Whether `datagram` belongs to one of the first `join_after_frames` frames (RTP timestamp, bytes 4-7)."""
        timestamp = datagram[4:8]
        if timestamp != self._last_timestamp:
            self._last_timestamp = timestamp
            self._timestamps_seen += 1
        return self._timestamps_seen <= self.join_after_frames

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.close()
