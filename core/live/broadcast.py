"""Encode once, send to many: one VP8 encoding of a live pipeline's pictures, shared by every WebRTC viewer of it.

A `VideoBroadcast` encodes each new result of its pipeline once, without boxes, and keeps the last frames in a
ring; each viewer's `Subscription` reads them in order and is sent the same bytes. The detections of each frame
travel beside it (see `overlay_json`), so each viewer's score threshold and class filter are applied where the
boxes are drawn, in the browser: N viewers with N filters still cost one encode per frame.

A VP8 delta frame needs every frame before it since a keyframe, so a subscription starts at a keyframe, and one that
falls behind the ring (or more than MAX_LAG_FRAMES behind the newest) skips to the next keyframe. Joining asks the
encoder for a keyframe at its next frame, so a late viewer waits one frame, not a keyframe interval. While the
source is quiet, the broadcast encodes the "no signal" picture twice a second instead (once for all viewers).

The encoder runs on the broadcast's own thread, only while somebody subscribes; it ends when its pipeline stops.
`Broadcasts` keeps one broadcast per pipeline, and encodes the pictures shown before any pipeline (a "starting"
picture) once per text, as keyframes any viewer can be sent at any time.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from core.detect.base import Detections
from core.detect.overlay import class_colour
from core.live.pipeline import LivePipeline, LiveResult
from core.live.stats import RollingStats
from core.live.supervise import SupervisedThread
from core.live.viewer import NO_SIGNAL_AFTER_S, placeholder_image, signal_text

logger = logging.getLogger(__name__)

RING_FRAMES = 30  # about a second at 30 fps: a subscription this far behind starts again at a keyframe
MAX_LAG_FRAMES = 8  # a subscription further behind the newest frame skips to the next keyframe (latency bound)
KEYFRAME_INTERVAL = 60  # frames between unrequested keyframes (2 s at 30 fps)
PLACEHOLDER_PERIOD_S = 0.5  # while there is no signal, its picture is encoded this often
BITS_PER_PIXEL_FRAME = 0.16  # VP8 bitrate per pixel and frame: 1.5 Mbit/s at 640x480@30
MIN_BITRATE, MAX_BITRATE = 300_000, 8_000_000
NOMINAL_FPS = 30
MAX_OVERLAY_BOXES = 100  # the highest-scoring boxes of a frame sent beside it
VIDEO_TIME_BASE = Fraction(1, 90_000)
_STILLS_KEPT = 8


class Vp8Encoder:
    """libvpx VP8 through PyAV, set up for live video as aiortc sets up its own (real-time deadline, no lag,
    constant bitrate), but returning whole encoded frames, which aiortc packetizes for each peer."""

    def __init__(self, *, keyframe_interval: int = KEYFRAME_INTERVAL) -> None:
        self.keyframe_interval = keyframe_interval
        self._codec: av.video.codeccontext.VideoCodecContext | None = None
        self._index = 0

    def encode(self, image: np.ndarray, *, keyframe: bool = False) -> tuple[bytes, bool]:
        """One BGR picture as one VP8 frame; (data, whether it is a keyframe). A new size starts a new stream
        (its first frame is a keyframe)."""
        height, width = image.shape[:2]
        if self._codec is None or (self._codec.width, self._codec.height) != (width, height):
            self._codec = self._open(width, height)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24").reformat(format="yuv420p")
        frame.pts, frame.time_base = self._index, Fraction(1, NOMINAL_FPS)
        self._index += 1
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        packets = self._codec.encode(frame)
        return b"".join(bytes(packet) for packet in packets), any(packet.is_keyframe for packet in packets)

    def _open(self, width: int, height: int) -> av.video.codeccontext.VideoCodecContext:
        bitrate = int(min(max(width * height * NOMINAL_FPS * BITS_PER_PIXEL_FRAME, MIN_BITRATE), MAX_BITRATE))
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.time_base = Fraction(1, NOMINAL_FPS)
        codec.bit_rate, codec.gop_size, codec.qmin, codec.qmax = bitrate, self.keyframe_interval, 2, 56
        codec.thread_count = 1
        codec.options = {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0", "static-thresh": "1",
                         "partitions": "0", "bufsize": str(bitrate), "minrate": str(bitrate),
                         "maxrate": str(bitrate), "undershoot-pct": "100", "overshoot-pct": "15"}
        self._index = 0
        return codec


def overlay_json(detections: Detections | None, width: int, height: int, signal: str) -> str:
    """What a browser needs to draw a frame's boxes, as a JSON object: the picture size, the signal state ("live",
    or the state a placeholder shows) and up to MAX_OVERLAY_BOXES boxes as [x1, y1, x2, y2, score, class id],
    highest score first (a viewer keeps those its own filter keeps)."""
    boxes: list[list[float]] = []
    if detections is not None and len(detections):
        ordered = detections.by_score()
        for box, score, label in zip(ordered.boxes[:MAX_OVERLAY_BOXES], ordered.scores[:MAX_OVERLAY_BOXES],
                                     ordered.labels[:MAX_OVERLAY_BOXES]):
            boxes.append([*(round(float(value), 1) for value in box), round(float(score), 3), int(label)])
    return json.dumps({"w": width, "h": height, "signal": signal, "boxes": boxes}, separators=(",", ":"))


def overlay_colours(class_count: int) -> list[str]:
    """The colour of each class id as the server draws it (`class_colour`), as "#rrggbb" for a browser."""
    return ["#{2:02x}{1:02x}{0:02x}".format(*class_colour(class_id)) for class_id in range(class_count)]


@dataclass(frozen=True)
class EncodedFrame:
    """One encoded picture of a broadcast: `sequence` counts the broadcast's frames from 1; `overlay` is
    `overlay_json` of its detections (none for a placeholder); `result_sequence` is the pipeline result it shows
    (None for a placeholder)."""

    sequence: int
    data: bytes
    keyframe: bool
    overlay: str
    result_sequence: int | None = None


class Subscription:
    """One viewer's place in a broadcast: the frames it was sent, in order, from a keyframe on."""

    def __init__(self, broadcast: VideoBroadcast) -> None:
        self.broadcast = broadcast
        self.after = 0  # the newest sequence sent
        self.need_keyframe = True
        self.frames_sent = 0
        self.keyframe_waits = 0  # times it fell behind and waited for a keyframe
        self.closed = False

    def next(self, timeout: float) -> EncodedFrame | None:
        """The next frame to send (waiting up to `timeout` s), or None."""
        return self.broadcast._next_for(self, timeout)

    def close(self) -> None:
        self.broadcast._unsubscribe(self)


class VideoBroadcast:
    """The encoded video of one pipeline (see the module docstring); thread-safe."""

    def __init__(self, pipeline: LivePipeline, *, encoder: Callable[[], Vp8Encoder] = Vp8Encoder,
                 clock: Callable[[], float] = time.monotonic, ring: int = RING_FRAMES) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self._make_encoder = encoder
        self._condition = threading.Condition()
        self._ring: deque[EncodedFrame] = deque(maxlen=ring)
        self._subscribers: set[Subscription] = set()
        self._keyframe_wanted = False
        self._thread: SupervisedThread | None = None
        self._past_thread_errors = self._past_restarts = 0  # of encoder threads that ended
        self._timings = RollingStats(300)
        self._last_image: np.ndarray | None = None
        self._last_result_at: float | None = None
        self._last_placeholder_at: float | None = None
        self.sequence = 0
        self.results_encoded = 0  # pipeline results encoded (each once, whatever the number of subscribers)
        self.placeholders_encoded = 0
        self.keyframes = 0
        self.keyframe_requests = 0
        self.subscriptions = 0  # ever made
        self.frames_sent = 0  # frames handed to subscribers, all of them together

    # -- subscribers -----------------------------------------------------------------------------------------
    def subscribe(self) -> Subscription:
        """A new subscription, starting at the next keyframe (asked for now); starts encoding if idle."""
        subscription = Subscription(self)
        with self._condition:
            self._subscribers.add(subscription)
            self.subscriptions += 1
            self._ask_keyframe()
            if self._thread is None:
                self._thread = SupervisedThread(self._run, name=f"live encode {self.pipeline.source.uri[:30]}",
                                                logger=logger, retry_delay=PLACEHOLDER_PERIOD_S).start()
            self._condition.notify_all()
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._condition:
            subscription.closed = True
            self._subscribers.discard(subscription)
            self._condition.notify_all()

    def request_keyframe(self) -> None:
        """Make the next frame a keyframe (a viewer lost packets and asked for one)."""
        with self._condition:
            self._ask_keyframe()

    def _ask_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._keyframe_wanted = True

    @property
    def encoding(self) -> bool:
        """The encoder thread runs (somebody subscribes)."""
        with self._condition:
            return self._thread is not None

    @property
    def ended(self) -> bool:
        """The pipeline stopped: its subscribers should follow their viewer elsewhere."""
        return not self.pipeline.running

    def _next_for(self, subscription: Subscription, timeout: float) -> EncodedFrame | None:
        deadline = self.clock() + timeout
        with self._condition:
            while True:
                frame = self._pick(subscription)
                if frame is not None:
                    subscription.after = frame.sequence
                    subscription.need_keyframe = False
                    subscription.frames_sent += 1
                    self.frames_sent += 1
                    return frame
                remaining = deadline - self.clock()
                if remaining <= 0 or subscription.closed or self.ended:
                    return None
                self._condition.wait(remaining)

    def _pick(self, subscription: Subscription) -> EncodedFrame | None:
        """The frame `subscription` is sent next, if it is there yet (under the lock)."""
        if not self._ring:
            return None
        newest = self._ring[-1].sequence
        behind = newest - subscription.after
        if not subscription.need_keyframe and (self._ring[0].sequence > subscription.after + 1
                                               or behind > MAX_LAG_FRAMES):
            subscription.need_keyframe = True  # a gap (or too far behind): the decoder needs a fresh start
            subscription.keyframe_waits += 1
            self._ask_keyframe()
        if subscription.need_keyframe:  # the newest keyframe, if it is recent enough to catch up from
            keyframe = next((frame for frame in reversed(self._ring) if frame.keyframe), None)
            recent = keyframe is not None and newest - keyframe.sequence <= MAX_LAG_FRAMES
            return keyframe if recent and keyframe.sequence > subscription.after else None
        return next((frame for frame in self._ring if frame.sequence == subscription.after + 1), None)

    # -- the encoder thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        encoder = self._make_encoder()
        seen = 0
        while True:
            with self._condition:
                if not self._subscribers or self.ended:
                    if self._thread is not None:
                        self._past_thread_errors += self._thread.errors
                        self._past_restarts += self._thread.restarts
                    self._thread = None  # the next subscription starts another
                    self._condition.notify_all()
                    return
            result = self.pipeline.wait_result(seen, timeout=PLACEHOLDER_PERIOD_S / 2)
            if result is not None:
                seen = result.sequence
                self._encode_result(encoder, result)
            else:
                self._encode_placeholder_if_due(encoder)

    def _encode_result(self, encoder: Vp8Encoder, result: LiveResult) -> None:
        image = result.frame.image
        height, width = image.shape[:2]
        overlay = overlay_json(result.detections, width, height, "live")
        self._publish(encoder, image, overlay, result.sequence)
        self._last_image, self._last_result_at = image, self.clock()

    def _encode_placeholder_if_due(self, encoder: Vp8Encoder) -> None:
        now = self.clock()
        quiet = self._last_result_at is None or now - self._last_result_at >= NO_SIGNAL_AFTER_S
        due = self._last_placeholder_at is None or now - self._last_placeholder_at >= PLACEHOLDER_PERIOD_S
        health = self.pipeline.source.health
        source_quiet = (health.seconds_since_data or 0.0) >= NO_SIGNAL_AFTER_S
        if not due or (health.state == "live" and not (quiet and source_quiet)):
            return  # pictures arrive (a slow model only makes results rarer): no placeholder over them
        seconds = health.seconds_since_data
        if seconds is None and self._last_result_at is not None:
            seconds = now - self._last_result_at
        state = "no_signal" if health.state == "live" else health.state
        image = placeholder_image(self._last_image, signal_text(state, seconds),
                                  (health.width or 640, health.height or 480))
        height, width = image.shape[:2]
        self._publish(encoder, image, overlay_json(None, width, height, state), None)
        self._last_placeholder_at = now

    def _publish(self, encoder: Vp8Encoder, image: np.ndarray, overlay: str, result_sequence: int | None) -> None:
        with self._condition:
            keyframe, self._keyframe_wanted = self._keyframe_wanted, False
        started = self.clock()
        data, is_keyframe = encoder.encode(image, keyframe=keyframe)
        encode_ms = (self.clock() - started) * 1000.0
        with self._condition:
            self._timings.add("encode", encode_ms)
            if not data:  # nothing came out: the keyframe asked for is still due
                self._keyframe_wanted = self._keyframe_wanted or keyframe
                return
            self.sequence += 1
            if result_sequence is None:
                self.placeholders_encoded += 1
            else:
                self.results_encoded += 1
            self.keyframes += int(is_keyframe)
            self._ring.append(EncodedFrame(self.sequence, data, is_keyframe, overlay, result_sequence))
            self._condition.notify_all()

    def stats(self) -> dict:
        """Counters of the shared encoding: results encoded (once each, whatever the number of subscribers) and
        the pipeline's results so far, placeholders, keyframes and keyframe requests (viewers joining or
        recovering), subscribers now and ever, frames sent to all of them, and encode milliseconds."""
        with self._condition:
            return {"results_encoded": self.results_encoded, "placeholders_encoded": self.placeholders_encoded,
                    "keyframes": self.keyframes, "keyframe_requests": self.keyframe_requests,
                    "subscribers": len(self._subscribers), "subscriptions": self.subscriptions,
                    "results_processed": self.pipeline.frames_processed, "encode_ms": self._timings.summary("encode"),
                    "frames_sent": self.frames_sent,
                    "thread_errors": self._past_thread_errors + (self._thread.errors if self._thread else 0),
                    "restarts": self._past_restarts + (self._thread.restarts if self._thread else 0)}


class Broadcasts:
    """One `VideoBroadcast` per running pipeline, made on first subscription, and the pictures shown before a
    pipeline exists (encoded once per text as keyframes); thread-safe."""

    def __init__(self, *, encoder: Callable[[], Vp8Encoder] = Vp8Encoder,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._make_encoder, self.clock = encoder, clock
        self._lock = threading.Lock()
        self._broadcasts: dict[int, VideoBroadcast] = {}  # by id(pipeline)
        self._stills: OrderedDict[tuple[str, tuple[int, int]], EncodedFrame] = OrderedDict()

    def for_pipeline(self, pipeline: LivePipeline) -> VideoBroadcast:
        """The broadcast of `pipeline` (made now if there is none); broadcasts of stopped pipelines are dropped."""
        with self._lock:
            for key in [key for key, broadcast in self._broadcasts.items() if broadcast.ended]:
                del self._broadcasts[key]
            broadcast = self._broadcasts.get(id(pipeline))
            if broadcast is None or broadcast.pipeline is not pipeline:
                broadcast = VideoBroadcast(pipeline, encoder=self._make_encoder, clock=self.clock)
                self._broadcasts[id(pipeline)] = broadcast
            return broadcast

    def get(self, pipeline: LivePipeline) -> VideoBroadcast | None:
        with self._lock:
            broadcast = self._broadcasts.get(id(pipeline))
            return broadcast if broadcast is not None and broadcast.pipeline is pipeline else None

    def still(self, text: str, size: tuple[int, int] = (640, 480)) -> EncodedFrame:
        """A dark picture of `size` saying `text` ("STARTING..."), as a VP8 keyframe (encoded once per text)."""
        key = (text, size)
        with self._lock:
            frame = self._stills.get(key)
            if frame is not None:
                self._stills.move_to_end(key)
                return frame
        data, _ = self._make_encoder().encode(placeholder_image(None, text, size), keyframe=True)
        frame = EncodedFrame(0, data, True, overlay_json(None, size[0], size[1], "starting"))
        with self._lock:
            self._stills[key] = frame
            while len(self._stills) > _STILLS_KEPT:
                self._stills.popitem(last=False)
        return frame
