"""Frames from a checked GStreamer receive pipeline ending in an appsink (a Jetson's hardware decoder, say).

Opened for `rtp://...?decoder=jetson|gstreamer` (the program's own `core.stream.pipelines.receive_pipeline`) and for
`gst:NAME` (an operator's pipeline), always as a `ReceivePlan` that `core.gst.receive` checked and builds element by
element: no text of a page or a URI ever reaches GStreamer's parser. Needs GStreamer's Python bindings (PyGObject +
Gst 1.0), which Debian and JetPack ship for their own Python only; without them opening such a source is a one-line
error and every other source still works.

The appsink must deliver `video/x-raw,format=BGR`; a picture over the pixel cap is refused from its caps before
its memory is read. Packet counters are not visible through an appsink; frames, fps, resolution changes, decode
errors (pipeline errors) and end of stream are.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from core.errors import UserError
from core.gst.receive import ReceivePlan, build_receive_pipeline
from core.stream.base import Clock, SourceLimits, ThreadedSource

logger = logging.getLogger(__name__)

PULL_TIMEOUT_NS = 200_000_000


def _gst():
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError) as error:
        raise UserError("GStreamer sources (decoder=jetson, gst:NAME) need GStreamer's Python bindings (python3-gi, "
                        f"gir1.2-gstreamer-1.0): {error}") from None
    Gst.init(None)
    return Gst


class GstSource(ThreadedSource):
    """Pictures of a checked receive pipeline (`plan`), pulled from its appsink on the source's thread."""

    def __init__(self, uri: str, plan: ReceivePlan, *, limits: SourceLimits = SourceLimits(),
                 clock: Clock = time.monotonic) -> None:
        super().__init__(uri, limits=limits, clock=clock)
        Gst = self._Gst = _gst()
        self._pipeline, self._sink = build_receive_pipeline(Gst, plan)
        self._bus = self._pipeline.get_bus()
        if self._pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self._pipeline.set_state(Gst.State.NULL)
            raise UserError("the GStreamer pipeline cannot start (an element is missing or a device is busy)")
        self._start()

    def _produce(self) -> None:
        Gst = self._Gst
        while not self._stopping.is_set():
            if self._handle_messages():
                return
            sample = self._sink.emit("try-pull-sample", PULL_TIMEOUT_NS)
            now = self.clock()
            if sample is None:
                if self._sink.get_property("eos"):
                    return
                self._check_signal(now)
                continue
            self._note_data(now)
            self._note_frame_arrival(now)
            if self._oversize(sample):
                continue
            image = self._to_image(sample, Gst)
            if image is None:
                self.health.decode_errors += 1
                continue
            buffer = sample.get_buffer()
            self.health.bytes += buffer.get_size()
            pts = None if buffer.pts == Gst.CLOCK_TIME_NONE else buffer.pts / Gst.SECOND
            self._publish(image, pts=pts, received=now, timings={"receive": 0.0, "decode": 0.0})

    def _handle_messages(self) -> bool:
        """Count errors; True at end of stream."""
        Gst = self._Gst
        while True:
            message = self._bus.pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.EOS)
            if message is None:
                return False
            if message.type == Gst.MessageType.EOS:
                return True
            error, _ = message.parse_error()
            self.health.decode_errors += 1
            logger.warning("source %s: GStreamer error: %s", self.uri, error.message)

    def _oversize(self, sample) -> bool:
        """Whether the sample's caps declare a picture over the pixel cap (counted; its memory is never read)."""
        structure = sample.get_caps().get_structure(0)
        ok_width, width = structure.get_int("width")
        ok_height, height = structure.get_int("height")
        if ok_width and ok_height and width * height > self.limits.max_pixels:
            self.health.frames_oversize += 1
            return True
        return False

    @staticmethod
    def _to_image(sample, Gst) -> np.ndarray | None:
        structure = sample.get_caps().get_structure(0)
        if structure.get_value("format") != "BGR":
            return None
        width, height = structure.get_value("width"), structure.get_value("height")
        buffer = sample.get_buffer()
        ok, mapping = buffer.map(Gst.MapFlags.READ)
        if not ok:
            return None
        try:
            data = np.frombuffer(mapping.data, np.uint8)
            stride = data.size // height if height else 0
            if stride < width * 3:
                return None
            return data[: stride * height].reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()
        finally:
            buffer.unmap(mapping)

    def _release(self) -> None:
        self._pipeline.set_state(self._Gst.State.NULL)
