"""Video files and V4L2 webcams, demuxed and decoded by FFmpeg through PyAV.

A file plays at its own frame rate by default, like a camera (`realtime=0` reads it as fast as the consumer takes
frames, none dropped, but no faster than the frame-rate cap; `loop=1` starts over at the end). A webcam
(`/dev/videoN`) is opened with FFmpeg's v4l2 input at the requested size and rate.

The pixel cap holds before any picture memory exists: a file or camera whose stream declares more pixels is refused
when it opens, and FFmpeg's own `max_pixels` makes the decoder refuse a larger picture met later (counted as
`frames_oversize`, as the RTP receiver does).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import av

from core.errors import UserError
from core.stream.base import LIVE_DECODE_THREADS, Clock, SourceLimits, ThreadedSource

logger = logging.getLogger(__name__)


def _open_container(target: str, *, device: bool, options: dict[str, str]) -> av.container.InputContainer:
    try:
        if device:
            return av.open(target, format="v4l2", options=options, timeout=5.0)
        return av.open(target, options=options)
    except (av.error.FFmpegError, OSError) as error:
        raise UserError(f"cannot open {'camera' if device else 'video'} {target}: {error}") from None


def oversize_reason(container: av.container.InputContainer, limits: SourceLimits) -> str | None:
    """Why the first video stream of `container` is refused for its declared size (None when it is within the
    pixel cap, or declares none)."""
    context = container.streams.video[0].codec_context
    if context.width * context.height > limits.max_pixels:
        return (f"its pictures ({context.width}x{context.height}) are larger than this server decodes "
                f"({limits.max_pixels:,} pixels; EDS_MAX_DECODED_PIXELS)")
    return None


class DemuxedSource(ThreadedSource):
    """A ThreadedSource that decodes the first video stream of FFmpeg containers (files, cameras, RTSP sessions)."""

    def _play(self, container: av.container.InputContainer, *, paced: bool, live: bool) -> None:
        """Demux and decode `container` until it ends or the source stops; `paced` holds each picture until its
        presentation time (a file played like a camera); a `live` stream decodes on one thread, a file on FFmpeg's
        own choice of threads. FFmpeg's read errors propagate to the caller."""
        stream = container.streams.video[0]
        if live:
            stream.codec_context.thread_count = LIVE_DECODE_THREADS
        else:
            stream.thread_type = "AUTO"
        stream.codec_context.options = {"max_pixels": str(self.limits.max_pixels)}
        time_base = float(stream.time_base) if stream.time_base else 1.0
        started = self.clock()
        first_pts: float | None = None
        health = self.health
        for packet in container.demux(stream):
            if self._stopping.is_set():
                return
            now = self.clock()
            if packet.size:  # the last, empty packet only flushes the decoder
                self._note_data(now)
                self._note_frame_arrival(now)
                health.packets += 1
                health.bytes += packet.size
                health.keyframes += int(packet.is_keyframe)
            try:
                frames = packet.decode()
                images = [(frame.pts, frame.to_ndarray(format="bgr24")) for frame in frames]
            except (av.error.FFmpegError, ValueError) as error:
                if oversize_reason(container, self.limits):
                    health.frames_oversize += 1
                else:
                    health.decode_errors += 1
                logger.debug("source %s: decode error: %s", self.uri, error)
                continue
            decode_ms = (self.clock() - now) * 1000.0
            for pts, image in images:
                seconds = None if pts is None else pts * time_base
                if paced and seconds is not None:
                    first_pts = seconds if first_pts is None else first_pts
                    if self._stopping.wait(max(started + seconds - first_pts - self.clock(), 0.0)):
                        return
                received = self.clock() if paced else now
                self._publish(image, pts=seconds, received=received, timings={"receive": 0.0, "decode": decode_ms})


class ContainerSource(DemuxedSource):
    """Frames of the first video stream of a file or capture device."""

    def __init__(self, uri: str, target: str, *, device: bool = False, realtime: bool = True, loop: bool = False,
                 width: int | None = None, height: int | None = None, fps: float | None = None,
                 limits: SourceLimits = SourceLimits(), clock: Clock = time.monotonic) -> None:
        super().__init__(uri, limits=limits, drop_when_busy=device or realtime, clock=clock)
        if not device and not Path(target).is_file():
            raise UserError(f"video file not found: {target}")
        options: dict[str, str] = {}
        if device and width and height:
            options["video_size"] = f"{width}x{height}"
        if device and fps:
            options["framerate"] = f"{fps:g}"
        self.target, self.device, self.realtime, self.loop, self._options = target, device, realtime, loop, options
        self._container = _open_container(target, device=device, options=options)
        if not self._container.streams.video:
            self._container.close()
            raise UserError(f"{target} has no video stream")
        refused = oversize_reason(self._container, limits)
        if refused:
            self._container.close()
            raise UserError(f"{target}: {refused}")
        self._start()

    def _produce(self) -> None:
        while not self._stopping.is_set():
            self._play(self._container, paced=self.realtime and not self.device, live=self.device)
            if not self.loop or self.device or self._stopping.is_set():
                return
            self._container.close()
            self._container = _open_container(self.target, device=False, options=self._options)

    def _release(self) -> None:
        self._container.close()
