"""Pipelines offered as starting points on the Streams page and `streams explain`.

The GStreamer basics come first, as a first GStreamer lesson prints them (the second one completes the lesson's
`v4l2src device=/dev/video0 ! video/x-raw,framerate=30/1 ! ...` with a converter and a window), each with the
question it asks and the kind of answer the page gives (computed by `core.gst`, never written here):
1. show a USB camera in an X11 window, and convert that for the Jetson's display (a conversion);
2. tell a property from a capability (each `name=value` and caps filter sorted into one or the other);
3. an effect between two colour conversions (every piece explained).
Then the Jetson's own pipelines, without a question: the camera sender this server receives (the seed's, from its
one builder in `core.gst.jetson_sender`), a receiver that decodes on the Jetson and shows the video in an X11
window, and a CSI camera shown with NVIDIA's display sink.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.gst.jetson_sender import HOST_PLACEHOLDER, SEED_PRESET, preset_options, sender_command

ANSWER_PIECES = "every piece"
ANSWER_CONVERSION = "conversion for the Jetson's display"
ANSWER_PROPERTIES = "property or capability"

BASICS_SHOW = "gst-launch-1.0 v4l2src ! xvimagesink"
BASICS_PROPERTY_OR_CAPABILITY = ("gst-launch-1.0 v4l2src device=/dev/video0 ! video/x-raw,framerate=30/1 "
                                 "! videoconvert ! xvimagesink")
BASICS_EFFECT = ("gst-launch-1.0 v4l2src device=/dev/video0 ! video/x-raw, framerate=30/1 ! videoconvert ! agingtv "
                 "scratch-lines=10 ! videoconvert ! xvimagesink sync=false")
SENDER = sender_command(preset_options(SEED_PRESET, HOST_PLACEHOLDER))
RECEIVER = ('gst-launch-1.0 udpsrc port=5000 caps="application/x-rtp,media=video,encoding-name=H265,payload=96" '
            "! rtph265depay ! h265parse ! nvv4l2decoder ! nvvidconv ! xvimagesink")
DISPLAY = ("gst-launch-1.0 nvarguscamerasrc ! 'video/x-raw(memory:NVMM),width=1920,height=1080,framerate=30/1' "
           "! nvvidconv ! nvegltransform ! nveglglessink -e")


@dataclass(frozen=True)
class Example:
    """A pipeline, with the question it answers ("" for none) and the kind of answer: one of ANSWER_PIECES,
    ANSWER_CONVERSION or ANSWER_PROPERTIES."""

    title: str
    pipeline: str
    question: str = ""
    answer: str = ANSWER_PIECES


BASICS = (
    Example("GStreamer basics 1: show a USB camera", BASICS_SHOW,
            "Show the USB camera in a window. On a Jetson, what does this become with NVIDIA's display sink?",
            ANSWER_CONVERSION),
    Example("GStreamer basics 2: property or capability?", BASICS_PROPERTY_OR_CAPABILITY,
            "Which parts of this pipeline are properties and which are capabilities?", ANSWER_PROPERTIES),
    Example("GStreamer basics 3: an ageing-film effect", BASICS_EFFECT,
            "What does each piece of this pipeline do?"),
)
JETSON = (
    Example("Jetson camera sender (H.265 over RTP/UDP)", SENDER),
    Example("Receiver on the Jetson, X11 window", RECEIVER),
    Example("CSI camera on the Jetson's display", DISPLAY),
)
EXAMPLES = {example.title: example.pipeline for example in BASICS + JETSON}


def question_for(text: str) -> Example | None:
    """The example with a question whose pipeline is exactly `text` (surrounding spaces aside), if any."""
    return next((example for example in BASICS if example.pipeline == text.strip()), None)
