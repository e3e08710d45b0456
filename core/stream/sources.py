"""`open_source(uri)`: one entry point for every kind of frame source, chosen by the URI's form.

    rtp://BIND:PORT[?codec=auto|h265|h264&payload=96]
                                                      RTP/UDP receiver (our depacketizer + FFmpeg decoder); codec
                                                      auto, the default, tells H.264 from H.265 by the payload;
                                                      port 0 picks a free port (see RtpSource.port)
    rtsp://[USER:PASS@]HOST[:PORT]/PATH[?transport=tcp|udp]
                                                      RTSP camera or server (FFmpeg; TCP by default; reconnects
                                                      with backoff); other query parameters go to the camera
    gst:<pipeline ending in appsink>                  GStreamer (Jetson hardware decoding); needs the Python bindings
    demo:[?width=640&height=480&fps=30]               synthetic moving shapes with a frame stamp
    /dev/videoN[?width=640&height=480&fps=30]         V4L2 webcam (N 0..255)
    PATH or file://PATH[?realtime=1&loop=0]           video file (plays at its own rate unless realtime=0)

Credentials in an rtsp:// URI are never shown: `display_uri` replaces them for logs, health and pages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from core.errors import UserError
from core.stream.base import FrameSource
from core.stream.nal import FORMATS

AUTO_CODEC = "auto"
RTP_CODECS = (AUTO_CODEC, *FORMATS)
RTSP_TRANSPORTS = ("tcp", "udp")
MAX_URI_LENGTH = 2048
MAX_WEBCAM_INDEX = 255  # V4L2 numbers its devices /dev/video0 .. /dev/video255
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")
_WEBCAM = re.compile(r"/dev/video(\d{1,3})")

_ALLOWED_OPTIONS = {
    "rtp": {"codec", "payload"},
    "rtsp": {"transport"},
    "demo": {"width", "height", "fps", "duration"},
    "webcam": {"width", "height", "fps"},
    "file": {"realtime", "loop"},
    "gst": set(),
}


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source URI: its kind, target (host:port, camera URL, path, pipeline) and options (validated
    strings). An rtsp:// target is the URL handed to FFmpeg, credentials included: show `display_uri` instead."""

    kind: str
    target: str
    options: dict[str, str] = field(default_factory=dict)


def display_uri(uri: str) -> str:
    """`uri` with the user name and password of a `scheme://USER:PASS@host` form replaced by `***`."""
    scheme, separator, rest = uri.partition("://")
    if not separator:
        return uri
    ends = [index for index in (rest.find(mark) for mark in "/?#") if index >= 0]
    authority_end = min(ends, default=len(rest))
    authority = rest[:authority_end]
    if "@" not in authority:
        return uri
    return f"{scheme}://***@{authority.rpartition('@')[2]}{rest[authority_end:]}"


def _split_query(text: str) -> tuple[str, dict[str, str]]:
    base, _, query = text.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))


def _parse_rtp(uri: str) -> SourceSpec:
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or parts.hostname is None:
        raise UserError(f"bad RTP URI {uri!r}: expected rtp://BIND:PORT?codec=auto")
    return SourceSpec("rtp", f"{parts.hostname}:{port}", dict(parse_qsl(parts.query, keep_blank_values=True)))


def _parse_rtsp(uri: str) -> SourceSpec:
    """rtsp://[USER:PASS@]HOST[:PORT]/PATH[?transport=tcp|udp&...]: our `transport` option is taken out, any other
    query parameter stays in the camera's URL; errors quote the URI without its credentials."""
    shown = display_uri(uri)
    if len(uri) > MAX_URI_LENGTH:
        raise UserError(f"RTSP URI longer than {MAX_URI_LENGTH} characters")
    if any(character.isspace() or ord(character) < 32 or ord(character) == 127 for character in uri):
        raise UserError(f"RTSP URI {shown!r} contains spaces or control characters (percent-encode them)")
    parts = urlsplit(uri)
    host = parts.hostname
    if not host or not _HOST_NAME.fullmatch(host):
        raise UserError(f"bad RTSP URI {shown!r}: expected rtsp://HOST[:PORT]/PATH")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise UserError(f"bad RTSP URI {shown!r}: the port must be 1..65535")
    ours = [piece for piece in parts.query.split("&") if piece.partition("=")[0] == "transport"]
    camera_query = "&".join(piece for piece in parts.query.split("&") if piece and piece not in ours)
    options = dict(parse_qsl("&".join(ours), keep_blank_values=True))
    if options.get("transport", "tcp") not in RTSP_TRANSPORTS:
        raise UserError(f"RTSP transport must be {' or '.join(RTSP_TRANSPORTS)}, not {options['transport']!r}")
    target = f"rtsp://{parts.netloc}{parts.path}" + (f"?{camera_query}" if camera_query else "")
    return SourceSpec("rtsp", target, options)


def _parse_webcam(uri: str) -> SourceSpec:
    base, options = _split_query(uri)
    match = _WEBCAM.fullmatch(base)
    if match is None or int(match.group(1)) > MAX_WEBCAM_INDEX:
        raise UserError(f"bad webcam {base!r}: expected /dev/videoN with N from 0 to {MAX_WEBCAM_INDEX}")
    return SourceSpec("webcam", base, options)


def parse_source_uri(uri: str) -> SourceSpec:
    """Parse without opening anything; unknown options and malformed parts are a UserError."""
    uri = uri.strip()
    if not uri:
        raise UserError("empty source URI")
    scheme = _SCHEME.match(uri)
    if uri.startswith("gst:"):
        if not uri[4:].strip():
            raise UserError("gst: needs a pipeline, e.g. gst:udpsrc port=5000 ... ! appsink name=sink")
        return SourceSpec("gst", uri[4:].strip())
    if scheme is not None and scheme.group(1) not in ("rtp", "rtsp", "file"):
        raise UserError(f"unsupported source {scheme.group(0)!r} (use rtp://, rtsp://, demo:, /dev/videoN, "
                        "a video file or gst:)")
    if uri.startswith("rtp://"):
        spec = _parse_rtp(uri)
    elif uri.startswith("rtsp://"):
        spec = _parse_rtsp(uri)
    elif uri == "demo:" or uri.startswith("demo:?"):
        spec = SourceSpec("demo", "", _split_query(uri[5:])[1])
    elif uri.startswith("/dev/video"):
        spec = _parse_webcam(uri)
    else:
        base, options = _split_query(uri[7:] if uri.startswith("file://") else uri)
        spec = SourceSpec("file", base, options)
    unknown = set(spec.options) - _ALLOWED_OPTIONS[spec.kind]
    if unknown:
        raise UserError(f"unknown option(s) {', '.join(sorted(unknown))} for a {spec.kind} source "
                        f"(allowed: {', '.join(sorted(_ALLOWED_OPTIONS[spec.kind])) or 'none'})")
    if spec.kind == "rtp" and spec.options.get("codec", AUTO_CODEC) not in RTP_CODECS:
        raise UserError(f"unknown codec {spec.options['codec']!r} (use {', '.join(RTP_CODECS)})")
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
        codec = options.get("codec", AUTO_CODEC)
        return RtpSource(uri, host, int(port), None if codec == AUTO_CODEC else FORMATS[codec], payload_type)
    if spec.kind == "rtsp":
        from core.stream.rtsp_source import RtspSource

        return RtspSource(display_uri(uri), spec.target, transport=options.get("transport", "tcp"))
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
