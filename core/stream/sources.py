"""`open_source(uri)`: one entry point for every kind of frame source, chosen by the URI's form.

    rtp://BIND:PORT[?codec=auto|h265|h264&payload=96&decoder=ffmpeg|jetson|gstreamer]
                                                      RTP/UDP receiver. decoder=ffmpeg, the default: our
                                                      depacketizer + FFmpeg; codec auto, the default, tells H.264
                                                      from H.265 by the payload; port 0 picks a free port (see
                                                      RtpSource.port). decoder=jetson: GStreamer with the Jetson's
                                                      hardware decoder (nvv4l2decoder), decoder=gstreamer: with
                                                      libav; both need the codec named and the Python bindings
    rtsp://[USER:PASS@]HOST[:PORT]/PATH[?transport=tcp|udp]
                                                      RTSP camera or server (FFmpeg; TCP by default; reconnects
                                                      with backoff); other query parameters go to the camera
    gst:NAME                                          a receive pipeline the operator named in the server's own
                                                      configuration (see core.stream.operator_pipelines); never a
                                                      pipeline's text
    demo:[?width=640&height=480&fps=30]               synthetic moving shapes with a frame stamp
    /dev/videoN[?width=640&height=480&fps=30]         V4L2 webcam (N 0..255)
    PATH or file://PATH[?realtime=1&loop=0]           video file (plays at its own rate unless realtime=0)

A source URI is data, never a program: the GStreamer pipelines it can start are the program's own
(`core.stream.pipelines.receive_pipeline`, chosen with decoder=) or the operator's, checked element by element
(`core.gst.receive`). Every source keeps the pixel and frame-rate caps of its `SourcePolicy` (from the settings),
and demo/webcam sizes and rates over them are refused before anything opens. Credentials in an rtsp:// URI are
never shown: `display_uri` (core.stream.shown_uri) replaces them for logs, health and pages.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, urlsplit

from pathlib import Path

from core.config import DEFAULT_RTP_PORTS, Settings
from core.errors import UserError
from core.gst.receive import check_receive_pipeline
from core.stream.base import FrameSource, SourceLimits
from core.stream.nal import FORMATS
from core.stream.operator_pipelines import operator_pipeline, pipelines_file
from core.stream.shown_uri import display_uri

AUTO_CODEC = "auto"
RTP_CODECS = (AUTO_CODEC, *FORMATS)
RTSP_TRANSPORTS = ("tcp", "udp")
FFMPEG_DECODER = "ffmpeg"
GSTREAMER_DECODERS = {"jetson": True, "gstreamer": False}  # decoder= -> receive_pipeline(jetson=...)
RTP_DECODERS = (FFMPEG_DECODER, *GSTREAMER_DECODERS)
MAX_URI_LENGTH = 2048
MAX_WEBCAM_INDEX = 255  # V4L2 numbers its devices /dev/video0 .. /dev/video255
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
URI_SCHEMES = ("rtp", "rtsp", "file")
# a network scheme written without its "://" (rtsp//host, rtp:/host, rtsp:host): a URI typo, not a file name
_MISTYPED_SCHEME = re.compile(r"(rtsp|rtp)(?:/{1,3}|:/?(?!/)|:/{3,})", re.IGNORECASE)
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")
_WEBCAM = re.compile(r"/dev/video(\d{1,3})")
PIPELINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_ALLOWED_OPTIONS = {
    "rtp": {"codec", "payload", "decoder"},
    "rtsp": {"transport"},
    "demo": {"width", "height", "fps", "duration"},
    "webcam": {"width", "height", "fps"},
    "file": {"realtime", "loop"},
    "gst": set(),
}


@dataclass(frozen=True)
class SourcePolicy:
    """What opening a source may do, from the settings (`from_settings`): the caps every source keeps, which
    addresses may send RTP (EDS_RTP_ALLOWED_SENDERS text; empty: any), the UDP ports an operator's pipeline may bind
    (EDS_RTP_PORTS) and the operator's pipelines file (None: no `gst:NAME` source). The defaults, for tests and
    tools, are the settings' defaults without an operator file."""

    limits: SourceLimits = SourceLimits()
    allowed_senders: str = ""
    rtp_ports: tuple[int, ...] = DEFAULT_RTP_PORTS
    pipelines_file: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SourcePolicy:
        return cls(SourceLimits.from_settings(settings), settings.rtp_allowed_senders, settings.rtp_ports,
                   pipelines_file(settings))


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source URI: its kind, target (host:port, camera URL, path, pipeline), options (validated strings)
    and the URI text it was parsed from (stripped), by which a live pipeline is shared. A URI is parsed once, where
    it enters (a page, a command, the streams file), and the spec travels from there to the pipeline registry and
    `open_source`. An rtsp:// target and URI hold the credentials handed to FFmpeg: show `display_uri` instead."""

    kind: str
    target: str
    options: dict[str, str] = field(default_factory=dict)
    uri: str = ""

    @property
    def port(self) -> int | None:
        """The UDP port an rtp:// source binds (0: any free port); None for every other kind."""
        return int(self.target.rpartition(":")[2]) if self.kind == "rtp" else None


def _split_query(text: str) -> tuple[str, dict[str, str]]:
    base, _, query = text.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))


def _parse_rtp(uri: str) -> SourceSpec:
    expected = "rtp://BIND:PORT?codec=auto (an IPv6 address in brackets: rtp://[::]:5000)"
    try:
        parts = urlsplit(uri)
        port, host = parts.port, parts.hostname
    except ValueError:  # an unclosed IPv6 bracket, a port that is no number
        raise UserError(f"bad RTP URI {uri!r}: expected {expected}") from None
    if port is None or not host or not _HOST_NAME.fullmatch(host):
        raise UserError(f"bad RTP URI {uri!r}: expected {expected}")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    decoder = options.get("decoder", FFMPEG_DECODER)
    if decoder not in RTP_DECODERS:
        raise UserError(f"unknown decoder {decoder!r} (use {', '.join(RTP_DECODERS)})")
    if decoder != FFMPEG_DECODER and options.get("codec", AUTO_CODEC) not in FORMATS:
        raise UserError(f"decoder={decoder} needs the codec named: codec={' or codec='.join(FORMATS)}")
    if decoder != FFMPEG_DECODER and port == 0:
        raise UserError(f"decoder={decoder} needs a fixed port, not 0")
    return SourceSpec("rtp", f"{host}:{port}", options)


def _parse_rtsp(uri: str) -> SourceSpec:
    """rtsp://[USER:PASS@]HOST[:PORT]/PATH[?transport=tcp|udp&...]: our `transport` option is taken out, any other
    query parameter stays in the camera's URL; errors quote the URI without its credentials."""
    shown = display_uri(uri)
    if len(uri) > MAX_URI_LENGTH:
        raise UserError(f"RTSP URI longer than {MAX_URI_LENGTH} characters")
    if any(character.isspace() or ord(character) < 32 or ord(character) == 127 for character in uri):
        raise UserError(f"RTSP URI {shown!r} contains spaces or control characters (percent-encode them)")
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise UserError(f"bad RTSP URI {shown!r}: expected rtsp://HOST[:PORT]/PATH") from None
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


def as_source_spec(source: str | SourceSpec) -> SourceSpec:
    """`source` itself if it was parsed already, else its parse (`parse_source_uri`)."""
    return source if isinstance(source, SourceSpec) else parse_source_uri(source)


def parse_source_uri(uri: str) -> SourceSpec:
    """Parse without opening anything; unknown options and malformed parts are a UserError."""
    uri = uri.strip()
    return replace(_parse(uri), uri=uri)


def _parse(uri: str) -> SourceSpec:
    if not uri:
        raise UserError("empty source URI")
    scheme = _SCHEME.match(uri)
    if uri.startswith("gst:"):
        name = uri[4:].strip()
        if not PIPELINE_NAME.fullmatch(name):
            raise UserError("gst: takes the name of a receive pipeline the operator configured for this server "
                            "(gst:NAME), never a pipeline; for a Jetson's hardware decoder use "
                            "rtp://0.0.0.0:5000?codec=h265&decoder=jetson")
        return SourceSpec("gst", name)
    if scheme is not None and scheme.group(1) not in URI_SCHEMES:
        written = scheme.group(1).lower()
        close = ([known for known in URI_SCHEMES if sorted(known) == sorted(written)]  # letters swapped
                 or difflib.get_close_matches(written, URI_SCHEMES, n=1, cutoff=0.75))
        raise UserError(f"unsupported source {scheme.group(0)!r}" + (f": did you mean {close[0]}://?" if close else "")
                        + " (use rtp://, rtsp://, demo:, /dev/videoN, a video file or gst:NAME)")
    mistyped = _MISTYPED_SCHEME.match(uri)
    if mistyped is not None:
        raise UserError(f"{uri!r} is not a URI: write the scheme as {mistyped.group(1).lower()}:// (a colon and "
                        "two slashes)")
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
    if not 0 < value < float("inf"):
        raise UserError(f"option {key} must be a positive number, got {options[key]}")
    return value


def _flag(options: dict[str, str], key: str, default: bool) -> bool:
    value = options.get(key)
    if value is None:
        return default
    if value.lower() not in ("0", "1", "true", "false", "yes", "no"):
        raise UserError(f"option {key}={value!r} must be 0 or 1")
    return value.lower() in ("1", "true", "yes")


def _picture_options(spec: SourceSpec) -> tuple[int, int, float]:
    """Width, height and frames per second a demo or webcam URI asks for (640x480 at 30 by default)."""
    options = spec.options
    return (_number(options, "width", 640), _number(options, "height", 480), _number(options, "fps", 30.0, float))


def check_limits(spec: SourceSpec, limits: SourceLimits) -> None:
    """UserError when a demo scene or webcam asks for pictures over the pixel cap or a rate over the frame-rate cap
    (other sources are capped as their pictures come: see `SourceLimits`)."""
    if spec.kind not in ("demo", "webcam"):
        return
    width, height, fps = _picture_options(spec)
    what = "the demo scene" if spec.kind == "demo" else f"webcam {spec.target}"
    limits.check_size(width, height, what)
    limits.check_rate(fps, what)


def open_source(source: str | SourceSpec, policy: SourcePolicy = SourcePolicy()) -> FrameSource:
    """Open (and start) the source a URI (or its parsed spec) names under `policy` (caps, senders, operator
    pipelines); see the module docstring for the forms."""
    spec = as_source_spec(source)
    uri = spec.uri
    check_limits(spec, policy.limits)
    options, limits = spec.options, policy.limits
    if spec.kind == "rtp":
        return _open_rtp(uri, spec, policy)
    if spec.kind == "rtsp":
        from core.stream.rtsp_source import RtspSource

        return RtspSource(display_uri(uri), spec.target, transport=options.get("transport", "tcp"), limits=limits)
    if spec.kind == "gst":
        from core.stream.gst_source import GstSource

        return GstSource(uri, operator_pipeline(policy.pipelines_file, spec.target, policy.rtp_ports), limits=limits)
    if spec.kind == "demo":
        from core.stream.demo import DemoSource

        width, height, fps = _picture_options(spec)
        return DemoSource(uri, width=width, height=height, fps=fps, duration=_number(options, "duration", None, float),
                          limits=limits)
    from core.stream.container_source import ContainerSource

    if spec.kind == "webcam":
        width, height, fps = _picture_options(spec)
        return ContainerSource(uri, spec.target, device=True, width=width, height=height, fps=fps, limits=limits)
    return ContainerSource(uri, spec.target, realtime=_flag(options, "realtime", True),
                           loop=_flag(options, "loop", False), limits=limits)


def _open_rtp(uri: str, spec: SourceSpec, policy: SourcePolicy) -> FrameSource:
    """Our RTP receiver, or with decoder=jetson|gstreamer the program's own GStreamer receive pipeline."""
    options = spec.options
    host, _, port = spec.target.rpartition(":")
    payload_type = _number(options, "payload", 96)
    if payload_type > 127:
        raise UserError(f"RTP payload type must be 0..127, got {payload_type}")
    codec = options.get("codec", AUTO_CODEC)
    decoder = options.get("decoder", FFMPEG_DECODER)
    if decoder != FFMPEG_DECODER:
        from core.stream.gst_source import GstSource
        from core.stream.pipelines import receive_pipeline

        text = receive_pipeline(port=int(port), codec=codec, payload_type=payload_type,
                                jetson=GSTREAMER_DECODERS[decoder], address=host)
        return GstSource(uri, check_receive_pipeline(text), limits=policy.limits)
    from core.stream.rtp import SenderAllowList
    from core.stream.rtp_source import RtpSource

    return RtpSource(uri, host, int(port), None if codec == AUTO_CODEC else FORMATS[codec], payload_type,
                     limits=policy.limits, allowed_senders=SenderAllowList(policy.allowed_senders))
