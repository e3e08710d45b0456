"""Frames, health counters, the caps every source keeps and the FrameSource contract every source (RTP, GStreamer,
file, webcam, demo) follows.

A source produces frames on its own thread into a one-frame slot: a slow consumer makes the source drop frames
(counted), never queue them, so what `read()` returns is always the newest picture. Finite sources that must not
skip frames (a file read as fast as possible) wait for the consumer instead.

Every source keeps the same `SourceLimits` (from the settings, handed in by whoever opens it): a picture over the
pixel cap is refused and counted (`frames_oversize`), and pictures coming faster than the frame-rate cap are
dropped (`frames_over_rate`), or waited for by a source that must not skip frames.
"""
from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from core.config import DEFAULT_MAX_DECODED_PIXELS, DEFAULT_MAX_FPS, Settings
from core.errors import UserError

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
FPS_WINDOW_S = 2.0
# A live stream (RTP, RTSP, a camera device) decodes on one thread. A camera's stream is one slice per picture, so
# FFmpeg's slice threads (one per core by default) only wake and wait for every picture, and frame threads hold
# pictures back. With many streams in one host the idle threads cost more than they gave: 64 cameras on a 16-core
# host took 22.8 ms of receiver CPU per processed frame with slice threads, 16.8 with one (README, "Many cameras").
LIVE_DECODE_THREADS = 1


@dataclass(frozen=True)
class SourceLimits:
    """The most any source delivers: pictures of at most `max_pixels` (width x height), at most `max_fps` of them a
    second. Whoever opens a source builds them from the settings (`from_settings`: EDS_MAX_DECODED_PIXELS,
    EDS_MAX_FPS); a source never reads the environment. The defaults are the settings' defaults."""

    max_pixels: int = DEFAULT_MAX_DECODED_PIXELS
    max_fps: float = DEFAULT_MAX_FPS

    @classmethod
    def from_settings(cls, settings: Settings) -> SourceLimits:
        return cls(max_pixels=settings.max_decoded_pixels, max_fps=settings.max_fps)

    def check_size(self, width: int, height: int, what: str) -> None:
        """UserError when a `width`x`height` picture of `what` ("the demo scene", "video x.mp4") is over the cap."""
        if width * height > self.max_pixels:
            raise UserError(f"{what} is {width}x{height} ({width * height:,} pixels), more than this server decodes "
                            f"({self.max_pixels:,}; EDS_MAX_DECODED_PIXELS)")

    def check_rate(self, fps: float, what: str) -> None:
        """UserError when `what` asks for more than `max_fps` pictures a second."""
        if fps > self.max_fps:
            raise UserError(f"{what} asks for {fps:g} frames a second, more than this server takes ({self.max_fps:g}; "
                            "EDS_MAX_FPS)")


class RateCap:
    """A token bucket of pictures: at most `rate` a second on average, in bursts of at most `burst` (a second's
    worth by default, so a stream's jitter or a late burst of a network stream is not cut)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = max(burst if burst is not None else rate, 1.0)
        self._tokens = self.burst
        self._updated: float | None = None

    def _refill(self, now: float) -> None:
        if self._updated is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self, now: float) -> bool:
        """Whether a picture may go out at `now` (and count it if so)."""
        self._refill(now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def wait_s(self, now: float) -> float:
        """How long until a picture may go out (0 when it may now)."""
        self._refill(now)
        return max((1.0 - self._tokens) / self.rate, 0.0)


@dataclass(frozen=True)
class Frame:
    """A decoded BGR uint8 picture.

    `pts` is the stream's presentation time in seconds (RTP timestamp / 90 kHz for RTP), `received_monotonic` the
    `time.monotonic()` at which its first packet (or the capture) arrived, `index` counts the source's decoded
    frames from 0, and `timings` holds per-stage milliseconds measured by the source ("receive", "decode").
    """

    image: np.ndarray
    pts: float | None
    received_monotonic: float
    index: int
    timings: Mapping[str, float] = field(default_factory=dict)


@dataclass
class SourceHealth:
    """Counters a source keeps while it runs; `snapshot()` is what the CLI prints and the dashboard shows.

    state: "waiting" (nothing received yet), "waiting_keyframe" (data arrives but no keyframe yet: frames are
    skipped), "live", "no_signal" (the sender went quiet), "ended" (a finite source finished) or "stopped" (closed).
    `fps_arrival` counts frames (access units) as they arrive, `fps_decoded` the pictures decoded, both over the
    last few seconds; `frames_arrived / stream_seconds` and `frames_decoded / stream_seconds` are the same over
    the whole stream.
    """

    state: str = "waiting"
    packets: int = 0  # datagrams / demuxed packets received
    bytes: int = 0
    invalid_packets: int = 0  # not RTP, wrong payload type, or an unparseable payload
    foreign_packets: int = 0  # RTP from a sender (SSRC, address) the source does not follow
    refused_packets: int = 0  # from an address the allow-list does not name
    packets_lost: int = 0
    packets_reordered: int = 0
    packets_duplicate: int = 0
    packets_late: int = 0  # arrived after their frame had gone to the decoder
    sender_switches: int = 0  # a new sender (restart) was followed
    units_dropped_oversize: int = 0  # access units dropped for exceeding the size bounds
    decode_errors: int = 0
    keyframes: int = 0
    incomplete_frames: int = 0  # decoded despite a missing packet
    frames_arrived: int = 0  # access units / demuxed frames / captures received, decoded or not
    frames_skipped: int = 0  # not decoded while waiting for a keyframe
    frames_oversize: int = 0  # refused: more pixels than the source's cap
    frames_over_rate: int = 0  # dropped: more pictures a second than the frame-rate cap
    frames_decoded: int = 0
    frames_dropped: int = 0  # decoded but replaced by a newer one before the consumer read it
    resolution_changes: int = 0
    no_signal_events: int = 0
    width: int = 0
    height: int = 0
    fps_arrival: float = 0.0
    fps_decoded: float = 0.0
    first_frame_ms: float | None = None  # from the first data to the first decoded picture
    stream_seconds: float = 0.0  # from the first data to the latest
    seconds_since_data: float | None = None

    @property
    def fps(self) -> float:
        """The decoded rate (what readers of `health.fps` have always got)."""
        return self.fps_decoded

    def snapshot(self) -> dict:
        return asdict(self)


class FpsMeter:
    """Frames per second over the last `window` seconds."""

    def __init__(self, window: float = FPS_WINDOW_S) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-9)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()


class FrameSource(ABC):
    """Context manager and iterator of `Frame`s; `read(timeout)` returns the newest unread frame or None."""

    uri: str
    health: SourceHealth

    @abstractmethod
    def read(self, timeout: float | None = None) -> Frame | None: ...

    @property
    @abstractmethod
    def ended(self) -> bool:
        """True once a finite source has delivered its last frame, or the source was closed."""

    @abstractmethod
    def close(self) -> None: ...

    def health_snapshot(self) -> dict:
        return self.health.snapshot()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read(timeout=0.25)
            if frame is not None:
                yield frame
            elif self.ended:
                return


class ThreadedSource(FrameSource):
    """A FrameSource whose subclass produces frames in `_produce()` on a background thread.

    `_produce` calls `_publish(image, ...)` for each picture and returns when the source ends or `_stopping` is
    set; it should wake up at least every few hundred ms (socket timeouts) so `close()` is prompt.
    """

    def __init__(self, uri: str, *, limits: SourceLimits = SourceLimits(), drop_when_busy: bool = True,
                 no_signal_after: float = 0.5, clock: Clock = time.monotonic) -> None:
        self.uri = uri
        self.health = SourceHealth()
        self.limits = limits
        self.clock = clock
        self._rate_cap = RateCap(limits.max_fps)
        self.no_signal_after = no_signal_after
        self._drop_when_busy = drop_when_busy
        self._fps = FpsMeter()
        self._arrival_fps = FpsMeter()
        self._condition = threading.Condition()
        self._latest: Frame | None = None
        self._finished = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._first_data: float | None = None
        self._last_data: float | None = None

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"source {self.uri[:40]}", daemon=True)
        self._thread.start()

    @abstractmethod
    def _produce(self) -> None: ...

    def _release(self) -> None:
        """Free sockets, devices and decoders; called on the source thread after `_produce` returns."""

    def _main(self) -> None:
        try:
            self._produce()
        except Exception:  # a source must never take the process down; it reports itself ended
            logger.exception("source %s failed", self.uri)
        finally:
            self._release()
            with self._condition:
                self._finished = True
                if self.health.state != "stopped":
                    self.health.state = "ended"
                self._condition.notify_all()

    def _note_data(self, now: float) -> None:
        """Record that bytes arrived (a packet, a capture) at `now`."""
        if self._first_data is None:
            self._first_data = now
        self._last_data = now
        self.health.seconds_since_data = 0.0
        self.health.stream_seconds = round(now - self._first_data, 3)

    def _note_frame_arrival(self, now: float) -> None:
        """Record that a whole frame (access unit, demuxed packet, capture) arrived at `now`, decodable or not."""
        self.health.frames_arrived += 1
        self._arrival_fps.tick(now)
        self.health.fps_arrival = round(self._arrival_fps.rate(now), 2)

    def _check_signal(self, now: float) -> None:
        """Called when nothing arrived for a while: switch to "no_signal" once the silence is long enough."""
        if self._last_data is None:
            return
        silence = now - self._last_data
        self.health.seconds_since_data = round(silence, 3)
        if silence >= self.no_signal_after and self.health.state in ("live", "waiting_keyframe"):
            self.health.state = "no_signal"
            self.health.no_signal_events += 1
            self.health.fps_decoded = self.health.fps_arrival = 0.0
            logger.info("source %s: no signal for %.1f s", self.uri, silence)

    def _within_limits(self, width: int, height: int) -> bool:
        """Whether a `width`x`height` picture may go out now: under the pixel cap (else it is counted and
        refused) and the frame-rate cap (else it is dropped and counted; a source that must not skip frames waits
        for its turn instead)."""
        if width * height > self.limits.max_pixels:
            self.health.frames_oversize += 1
            logger.debug("source %s: refused a %dx%d picture (pixel cap)", self.uri, width, height)
            return False
        if not self._drop_when_busy:
            self._stopping.wait(self._rate_cap.wait_s(self.clock()))
        if self._rate_cap.take(self.clock()):
            return True
        self.health.frames_over_rate += 1
        return False

    def _publish(self, image: np.ndarray, *, pts: float | None, received: float,
                 timings: Mapping[str, float] | None = None) -> None:
        health = self.health
        height, width = image.shape[:2]
        if not self._within_limits(width, height):
            return
        now = self.clock()
        if (width, height) != (health.width, health.height):
            if health.width:
                health.resolution_changes += 1
                logger.info("source %s: resolution %dx%d -> %dx%d", self.uri, health.width, health.height,
                            width, height)
            health.width, health.height = width, height
        self._fps.tick(now)
        health.fps_decoded = round(self._fps.rate(now), 2)
        if health.first_frame_ms is None and self._first_data is not None:
            health.first_frame_ms = round((now - self._first_data) * 1000.0, 1)
        frame = Frame(image, pts, received, health.frames_decoded, dict(timings or {}))
        health.frames_decoded += 1
        if health.state != "stopped":
            health.state = "live"
        with self._condition:
            if not self._drop_when_busy:
                self._condition.wait_for(lambda: self._latest is None or self._stopping.is_set())
            if self._latest is not None:
                health.frames_dropped += 1
            self._latest = frame
            self._condition.notify_all()

    def read(self, timeout: float | None = None) -> Frame | None:
        with self._condition:
            self._condition.wait_for(lambda: self._latest is not None or self._finished, timeout)
            frame, self._latest = self._latest, None
            self._condition.notify_all()
        return frame

    @property
    def ended(self) -> bool:
        with self._condition:
            return self._finished and self._latest is None

    def close(self) -> None:
        self._stopping.set()
        self.health.state = "stopped"
        with self._condition:
            self._condition.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():
                logger.warning("source %s did not stop within 5 s", self.uri)
