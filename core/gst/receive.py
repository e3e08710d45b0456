"""What a GStreamer receive pipeline may hold, and building one element by element.

A receive pipeline turns the RTP stream arriving on one UDP port into BGR pictures for an appsink:
`udpsrc ! rtpjitterbuffer ! depayloader ! parser ! decoder ! converters ! appsink`. The program builds its own
(`core.stream.pipelines.receive_pipeline`), and the operator may name others in the server's configuration; either
way the text is parsed with `core.gst.syntax` and checked here before anything is made:

- every element is one of `RECEIVE_ELEMENTS` and sets only the properties listed for it there (no file, device,
  network-source or sink element other than the chain's own `udpsrc` and `appsink`, no `tee`, no `location=`);
- the pieces form one straight chain from one `udpsrc` to one `appsink`: no references, bins, URIs, named pads or
  second chain, no gst-launch-1.0 options;
- the `udpsrc` names its `port=`, one of the ports the server may bind (EDS_RTP_PORTS), when the caller says which.

The result (`ReceivePlan`) is built with GStreamer's own API, element by element (`build_receive_pipeline`), never
handed to `gst_parse_launch`, so what runs is exactly what was checked. This module needs no GStreamer bindings to
check a pipeline; the builder takes the bindings' `Gst` module from its caller.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import UserError
from core.gst.syntax import parse_pipeline

SOURCE_FACTORY = "udpsrc"
SINK_FACTORY = "appsink"
_DECODER_TUNING = frozenset({"max-threads", "output-corrupt", "skip-frame", "thread-type"})
# factory -> the properties it may set ("name" is allowed on every element)
RECEIVE_ELEMENTS: Mapping[str, frozenset[str]] = {
    SOURCE_FACTORY: frozenset({"port", "address", "caps", "buffer-size"}),
    "rtpjitterbuffer": frozenset({"latency", "drop-on-latency", "do-lost", "mode"}),
    "rtph265depay": frozenset(),
    "rtph264depay": frozenset(),
    "h265parse": frozenset({"config-interval", "disable-passthrough"}),
    "h264parse": frozenset({"config-interval", "disable-passthrough"}),
    "queue": frozenset({"max-size-buffers", "max-size-bytes", "max-size-time", "leaky"}),
    "nvv4l2decoder": frozenset({"enable-max-performance", "disable-dpb", "skip-frames", "drop-frame-interval"}),
    "omxh265dec": frozenset(),
    "omxh264dec": frozenset(),
    "avdec_h265": _DECODER_TUNING,
    "avdec_h264": _DECODER_TUNING,
    "nvvidconv": frozenset({"flip-method", "interpolation-method"}),
    "videoconvert": frozenset({"n-threads"}),
    "videoscale": frozenset({"method", "n-threads"}),
    "videorate": frozenset({"max-rate", "drop-only"}),
    SINK_FACTORY: frozenset({"max-buffers", "drop", "sync", "emit-signals", "wait-on-eos"}),
}
_ANY_ELEMENT = frozenset({"name"})
_NOT_AN_ELEMENT = {"reference": "a link to a named element", "bin": "a bin",
                   "uri": "a URI, for which GStreamer would pick a source or sink element itself"}


@dataclass(frozen=True)
class ReceiveStep:
    """One piece of the chain: an element (`factory` with its `properties` as written) or a caps filter (`caps`)."""

    factory: str = ""
    properties: tuple[tuple[str, str], ...] = ()
    caps: str = ""


@dataclass(frozen=True)
class ReceivePlan:
    """A checked receive pipeline: its steps from the udpsrc to the appsink, and the UDP port it binds."""

    steps: tuple[ReceiveStep, ...]
    port: int


def _problem(text: str) -> UserError:
    return UserError(f"receive pipeline refused: {text}")


def _port(value: str, udp_ports: Collection[int] | None) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise _problem(f"udpsrc port={value!r} is not a UDP port")
    port = int(value)
    if udp_ports is not None and port not in udp_ports:
        allowed = f"{min(udp_ports)}-{max(udp_ports)}" if udp_ports else "none"
        raise _problem(f"udpsrc port {port} is not one this server may bind ({allowed}; EDS_RTP_PORTS)")
    return port


def check_receive_pipeline(text: str, *, udp_ports: Collection[int] | None = None) -> ReceivePlan:
    """The plan of the receive pipeline `text` (a gst-launch-1.0 chain, without the command itself), or a one-line
    UserError naming the first thing it may not do (see the module docstring). `udp_ports` None leaves the port
    free (the program's own pipelines, whose port was checked with the stream)."""
    parsed = parse_pipeline(text)
    if parsed.options:
        raise _problem(f"gst-launch-1.0 options such as {parsed.options[0].flag} are not part of a pipeline")
    steps = []
    for piece in parsed.pieces:
        if piece.kind == "caps":
            steps.append(ReceiveStep(caps=piece.caps))
            continue
        if piece.kind != "element":
            raise _problem(f"{piece.text!r} is {_NOT_AN_ELEMENT[piece.kind]}; a receive pipeline is one chain of "
                           "elements")
        allowed = RECEIVE_ELEMENTS.get(piece.factory)
        if allowed is None:
            raise _problem(f"{piece.factory} is not an element of a receive chain (allowed: "
                           f"{', '.join(sorted(RECEIVE_ELEMENTS))})")
        for setting in piece.properties:
            if setting.name not in allowed | _ANY_ELEMENT:
                raise _problem(f"{piece.factory} may not set {setting.name}= here (allowed: "
                               f"{', '.join(sorted(allowed | _ANY_ELEMENT))})")
        steps.append(ReceiveStep(piece.factory, tuple((s.name, s.value) for s in piece.properties)))
    factories = [step.factory for step in steps]
    chain = all(link == (index, index + 1) for index, link in enumerate(parsed.links, start=1))
    if not chain or len(parsed.links) != len(parsed.pieces) - 1:
        raise _problem("the elements must form one chain joined by '!'")
    if any(link.source_pads or link.sink_pads or link.all_pads for link in parsed.link_details):
        raise _problem("the links of a receive chain name no pads")
    if factories[0] != SOURCE_FACTORY or factories.count(SOURCE_FACTORY) != 1:
        raise _problem("a receive pipeline starts with its one udpsrc")
    if factories[-1] != SINK_FACTORY or factories.count(SINK_FACTORY) != 1:
        raise _problem("a receive pipeline ends with its one appsink")
    source = dict(steps[0].properties)
    if "port" not in source:
        raise _problem("udpsrc must name its port= (one of EDS_RTP_PORTS)")
    return ReceivePlan(tuple(steps), _port(source["port"], udp_ports))


def build_receive_pipeline(Gst: Any, plan: ReceivePlan) -> tuple[Any, Any]:
    """(pipeline, appsink) made from `plan` with the bindings' `Gst` module: each element by its factory, each
    property from its text as gst-launch-1.0 would set it, each caps filter as a `capsfilter`, linked in order.
    A piece that cannot be made or linked is a UserError."""
    pipeline = Gst.Pipeline.new("receive")
    previous = None
    for step in plan.steps:
        element = Gst.ElementFactory.make(step.factory or "capsfilter", None)
        if element is None:
            raise UserError(f"GStreamer has no {step.factory} element here (a missing plugin?)")
        if step.caps:
            caps = Gst.Caps.from_string(step.caps)
            if caps is None:
                raise UserError(f"GStreamer cannot read the caps {step.caps!r}")
            element.set_property("caps", caps)
        for name, value in step.properties:
            if element.find_property(name) is None:
                raise UserError(f"GStreamer's {step.factory} here has no property {name}")
            Gst.util_set_object_arg(element, name, value)
        if not pipeline.add(element):
            raise UserError(f"GStreamer cannot add {step.factory} (two elements named alike?)")
        if previous is not None and not previous.link(element):
            raise UserError(f"GStreamer cannot link {previous.get_factory().get_name()} to "
                            f"{step.factory or step.caps}")
        previous = element
    return pipeline, previous
