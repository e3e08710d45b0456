"""`open_source(uri)`: one entry point for every kind of frame source, chosen by the URI's form.

    rtp://BIND:PORT?codec=h265|h264[&payload=96]    RTP/UDP receiver (our depacketizer + FFmpeg decoder;
                                                      port 0 picks a free port, see RtpSource.port)
    gst:<pipeline ending in appsink>                  GStreamer (Jetson hardware decoding); needs the Python bindings
    demo:[?width=640&height=480&fps=30]               synthetic moving shapes with a frame stamp
    /dev/videoN[?width=640&height=480&fps=30]         V4L2 webcam
    PATH or file://PATH[?realtime=1&loop=0]           video file (plays at its own rate unless realtime=0)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from core.errors import UserError
from core.stream.base import FrameSource
from core.stream.nal import FORMATS

_ALLOWED_OPTIONS = {
    "rtp": {"codec", "payload"},
    "demo": {"width", "height", "fps", "duration"},
    "webcam": {"width", "height", "fps"},
    "file": {"realtime", "loop"},
    "gst": set(),
}


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source URI: its kind, target (host:port, path, pipeline) and options (validated strings)."""

    kind: str
    target: str
    options: dict[str, str] = field(default_factory=dict)


def _split_query(text: str) -> tuple[str, dict[str, str]]:
    base, _, query = text.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))


def parse_source_uri(uri: str) -> SourceSpec:
    """Parse without opening anything; unknown options and malformed parts are a UserError."""
    uri = uri.strip()
    if not uri:
        raise UserError("empty source URI")
    if uri.startswith("gst:"):
        if not uri[4:].strip():
            raise UserError("gst: needs a pipeline, e.g. gst:udpsrc port=5000 ... ! appsink name=sink")
        return SourceSpec("gst", uri[4:].strip())
    if uri.startswith("rtp://"):
        parts = urlsplit(uri)
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None or parts.hostname is None:
            raise UserError(f"bad RTP URI {uri!r}: expected rtp://BIND:PORT?codec=h265")
        spec = SourceSpec("rtp", f"{parts.hostname}:{port}", dict(parse_qsl(parts.query, keep_blank_values=True)))
    elif uri == "demo:" or uri.startswith("demo:?"):
        spec = SourceSpec("demo", "", _split_query(uri[5:])[1])
    elif uri.startswith("/dev/video"):
        base, options = _split_query(uri)
        spec = SourceSpec("webcam", base, options)
    else:
        base, options = _split_query(uri[7:] if uri.startswith("file://") else uri)
        spec = SourceSpec("file", base, options)
    unknown = set(spec.options) - _ALLOWED_OPTIONS[spec.kind]
    if unknown:
        raise UserError(f"unknown option(s) {', '.join(sorted(unknown))} for a {spec.kind} source "
                        f"(allowed: {', '.join(sorted(_ALLOWED_OPTIONS[spec.kind])) or 'none'})")
    if spec.kind == "rtp" and spec.options.get("codec", "h265") not in FORMATS:
        raise UserError(f"unknown codec {spec.options['codec']!r} (use {' or '.join(FORMATS)})")
    return spec


def _number(options: dict[str, str], key: str, default: float | None, kind: type = int):
    if key not in options:
        return default
    try:
        value = kind(options[key])
    except ValueError:
        raise UserError(f"option {key}={options[key]!r} is not a number") from None
    if value <= 0:
        raise UserError(f"option {key} must be positive, got {options[key]}")
    return value


def _flag(options: dict[str, str], key: str, default: bool) -> bool:
    value = options.get(key)
    if value is None:
        return default
    if value.lower() not in ("0", "1", "true", "false", "yes", "no"):
        raise UserError(f"option {key}={value!r} must be 0 or 1")
    return value.lower() in ("1", "true", "yes")


def open_source(uri: str) -> FrameSource:
    """Open (and start) the source `uri` names; see the module docstring for the forms."""
    spec = parse_source_uri(uri)
    options = spec.options
    if spec.kind == "rtp":
        from core.stream.rtp_source import RtpSource

        host, _, port = spec.target.rpartition(":")
        payload_type = _number(options, "payload", 96)
        if payload_type > 127:
            raise UserError(f"RTP payload type must be 0..127, got {payload_type}")
        return RtpSource(uri, host, int(port), FORMATS[options.get("codec", "h265")], payload_type)
    if spec.kind == "gst":
        from core.stream.gst_source import GstSource

        return GstSource(uri, spec.target)
    if spec.kind == "demo":
        from core.stream.demo import DemoSource

        return DemoSource(uri, width=_number(options, "width", 640), height=_number(options, "height", 480),
                          fps=_number(options, "fps", 30.0, float), duration=_number(options, "duration", None, float))
    from core.stream.container_source import ContainerSource

    if spec.kind == "webcam":
        return ContainerSource(uri, spec.target, device=True, width=_number(options, "width", 640),
                               height=_number(options, "height", 480), fps=_number(options, "fps", 30.0, float))
    return ContainerSource(uri, spec.target, realtime=_flag(options, "realtime", True),
                           loop=_flag(options, "loop", False))
