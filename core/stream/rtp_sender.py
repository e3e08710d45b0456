"""RTP sender: frames (demo scene, a file, a webcam) -> H.265/H.264 (FFmpeg's libx265/libx264 via PyAV) -> RTP/UDP.

It lets the dashboard be tried with no Jetson and no camera. It sends what the seed's Jetson sends: 4:2:0 8-bit
video, zero-latency encoding without B-frames, one keyframe a second, the parameter sets (VPS/SPS/PPS) in front of
every keyframe like `rtph265pay config-interval=1`, payload type 96. Encoding with PyAV and packetizing ourselves
needs nothing beyond pip (the PyAV wheel carries the encoders), and shares the payload code with the receiver.

The equivalent command on a Jetson (hardware encoder) is built in one place, `core.gst.jetson_sender.sender_command`
(`python -m core streams sender-command` prints it for this server, `python -m core send --help` for JetPack 5).
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from core.errors import UserError
from core.stream.base import Clock
from core.stream.nal import FORMATS, split_annexb
from core.stream.payload import CLOCK_RATE, RtpPacketizer
from core.stream.sources import SourcePolicy, open_source, parse_source_uri

logger = logging.getLogger(__name__)


def encoder_options(codec: str, key_interval: int) -> dict[str, str]:
    """FFmpeg's libx265/libx264 options for the stream a Jetson sends: zero latency, a keyframe every
    `key_interval` frames, the parameter sets in front of every keyframe."""
    params = f"keyint={key_interval}:min-keyint={key_interval}:scenecut=0:repeat-headers=1"
    if codec == "h265":
        return {"preset": "ultrafast", "tune": "zerolatency", "x265-params": params + ":log-level=error"}
    return {"preset": "ultrafast", "tune": "zerolatency", "x264-params": params}


def _encoder(codec: str, width: int, height: int, fps: float, key_interval: int) -> av.codec.context.CodecContext:
    if width % 2 or height % 2:
        raise UserError(f"frame size must be even for 4:2:0 video, got {width}x{height}")
    nal_format = FORMATS[codec]
    encoder = av.CodecContext.create(nal_format.encoder, "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    rate = Fraction(fps).limit_denominator(1001)
    encoder.framerate, encoder.time_base = rate, 1 / rate
    encoder.options = encoder_options(codec, key_interval)
    encoder.open()
    return encoder


def encode_access_units(images: Iterable[np.ndarray], codec: str = "h265", *, fps: float = 30.0,
                        key_interval: int | None = None) -> list[tuple[bytes, bool]]:
    """BGR frames of one size encoded as the sender encodes them: one (Annex B access unit, is keyframe) per frame,
    for a clip that is encoded once and sent many times."""
    units: list[tuple[bytes, bool]] = []
    encoder = None
    for number, image in enumerate(images):
        if encoder is None:
            height, width = image.shape[:2]
            encoder = _encoder(codec, width, height, fps, key_interval or max(int(round(fps)), 1))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24").reformat(format="yuv420p")
        frame.pts = number
        units += [(bytes(packet), packet.is_keyframe) for packet in encoder.encode(frame)]
    if encoder is not None:
        units += [(bytes(packet), packet.is_keyframe) for packet in encoder.encode()]
    return units


@dataclass
class SenderStats:
    frames: int = 0
    packets: int = 0
    bytes: int = 0
    keyframes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"frames": self.frames, "packets": self.packets, "bytes": self.bytes, "keyframes": self.keyframes,
                "seconds": round(self.seconds, 3), "fps": round(self.frames / self.seconds, 2) if self.seconds else 0.0}


class RtpSender:
    """Encodes BGR frames and sends them as one RTP stream; a change of frame size starts a new encoder in the
    same stream (new keyframe and parameter sets, same SSRC), as a camera switching mode would."""

    def __init__(self, host: str, port: int, codec: str = "h265", *, fps: float = 30.0, payload_type: int = 96,
                 key_interval: int | None = None, clock: Clock = time.monotonic) -> None:
        if codec not in FORMATS:
            raise UserError(f"unknown codec {codec!r} (use {' or '.join(FORMATS)})")
        self.codec, self.fps, self.clock = codec, fps, clock
        self.key_interval = key_interval or max(int(round(fps)), 1)
        self.address = (host, port)
        self.stats = SenderStats()
        self._packetizer = RtpPacketizer(FORMATS[codec], payload_type)
        self._encoder: av.codec.context.CodecContext | None = None
        self._size: tuple[int, int] | None = None
        self._frame_number = 0
        self._started = clock()
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
        except socket.gaierror as error:
            raise UserError(f"cannot resolve host {host!r}: {error.strerror}") from None
        self._socket = socket.socket(family, socket.SOCK_DGRAM)

    @property
    def ssrc(self) -> int:
        return self._packetizer.ssrc

    def send(self, image: np.ndarray) -> int:
        """Encode and send one BGR uint8 frame now; returns the number of RTP packets sent."""
        height, width = image.shape[:2]
        if self._size != (width, height):
            self._encoder = _encoder(self.codec, width, height, self.fps, self.key_interval)
            self._size = (width, height)
            self._frame_number = 0
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24").reformat(format="yuv420p")
        frame.pts = self._frame_number
        self._frame_number += 1
        timestamp = int((self.clock() - self._started) * CLOCK_RATE)
        sent = 0
        for packet in self._encoder.encode(frame):
            sent += self._send_access_unit(bytes(packet), timestamp, packet.is_keyframe)
        self.stats.frames += 1
        self.stats.seconds = self.clock() - self._started
        return sent

    def _send_access_unit(self, data: bytes, timestamp: int, keyframe: bool) -> int:
        packets = self._packetizer.packetize(split_annexb(data), timestamp)
        for packet in packets:
            datagram = packet.to_bytes()
            try:
                self._socket.sendto(datagram, self.address)
            except OSError as error:  # e.g. ICMP port unreachable reported on a later send: keep going
                logger.debug("send to %s:%d failed: %s", *self.address, error)
                continue
            self.stats.packets += 1
            self.stats.bytes += len(datagram)
        self.stats.keyframes += int(keyframe)
        return len(packets)

    def close(self) -> None:
        self._socket.close()
        self._encoder = None


def sender_source_uri(source: str, *, width: int | None, height: int | None, fps: float) -> str:
    """The source URI to read from: the demo scene and webcams get the requested size and rate."""
    spec = parse_source_uri(source)
    if spec.kind in ("demo", "webcam") and not spec.options:
        return f"{source.rstrip('?')}?width={width or 640}&height={height or 480}&fps={fps:g}"
    return source


def run_sender(source: str, host: str, port: int, codec: str = "h265", *, width: int | None = None,
               height: int | None = None, fps: float = 30.0, duration: float | None = None,
               stop: threading.Event | None = None, policy: SourcePolicy = SourcePolicy()) -> SenderStats:
    """Send `source` (opened under `policy`'s caps) until it ends, `duration` seconds pass, or `stop` is set;
    frames of another size than `width`x`height` (when given) are resized."""
    stop = stop or threading.Event()
    sender = RtpSender(host, port, codec, fps=fps)
    deadline = None if duration is None else time.monotonic() + duration
    try:
        with open_source(sender_source_uri(source, width=width, height=height, fps=fps), policy) as frames:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                frame = frames.read(timeout=0.2)
                if frame is None:
                    if frames.ended:
                        break
                    continue
                image = frame.image
                if width and height and image.shape[:2] != (height, width):
                    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                sender.send(image)
    finally:
        sender.close()
    return sender.stats
