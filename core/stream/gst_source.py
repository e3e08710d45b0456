"""`gst:<pipeline>`: frames from a GStreamer pipeline ending in an appsink (a Jetson's hardware decoder, say).

Needs GStreamer's Python bindings (PyGObject + Gst 1.0), which Debian and JetPack ship for their own Python only;
without them opening a `gst:` URI is a one-line error and every other source still works. The default Jetson
receive pipeline is `core.stream.pipelines.receive_pipeline(jetson=True)`:

    udpsrc port=5000 caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=H265,payload=96"
    ! rtpjitterbuffer latency=50 drop-on-latency=true ! rtph265depay ! h265parse ! nvv4l2decoder ! nvvidconv
    ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink name=sink max-buffers=2 drop=true
    sync=false

The appsink must deliver `video/x-raw,format=BGR`. Packet counters are not visible through an appsink; frames,
fps, resolution changes, decode errors (pipeline errors) and end of stream are.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from core.errors import UserError
from core.stream.base import Clock, ThreadedSource

logger = logging.getLogger(__name__)

PULL_TIMEOUT_NS = 200_000_000


def _gst():
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError) as error:
        raise UserError("gst: sources need GStreamer's Python bindings (python3-gi, gir1.2-gstreamer-1.0): "
                        f"{error}") from None
    Gst.init(None)
    return Gst


def _find_appsink(pipeline, Gst):
    sink = pipeline.get_by_name("sink")
    if sink is not None:
        return sink
    iterator = pipeline.iterate_sinks()
    while True:
        result, element = iterator.next()
        if result != Gst.IteratorResult.OK:
            return None
        if element.get_factory().get_name() == "appsink":
            return element


class GstSource(ThreadedSource):
    def __init__(self, uri: str, description: str, *, clock: Clock = time.monotonic) -> None:
        super().__init__(uri, clock=clock)
        Gst = self._Gst = _gst()
        try:
            self._pipeline = Gst.parse_launch(description)
        except Exception as error:  # GLib.Error
            raise UserError(f"bad GStreamer pipeline: {error}") from None
        self._sink = _find_appsink(self._pipeline, Gst)
        if self._sink is None:
            raise UserError("the GStreamer pipeline has no appsink (end it with `appsink name=sink`)")
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
