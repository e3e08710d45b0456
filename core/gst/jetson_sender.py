"""The Jetson's sender command (camera -> hardware encoder -> RTP over UDP to this server), built from validated
options, and the presets the Streams page and `python -m core streams sender-command` offer.

Encoders by JetPack release (facts in core.gst.nvidia):
- JetPack 4: `omxh265enc`/`omxh264enc` with `bitrate=` (bit/s), `iframeinterval=` (frames) and `insert-vui=1`;
  `nvvidconv` hands them NVMM buffers by itself, as in the seed's command.
- JetPack 5 and later (OMX removed): `nvv4l2h265enc`/`nvv4l2h264enc` with `bitrate=`, `iframeinterval=`,
  `idrinterval=` (a receiver joining mid-stream can start only at an IDR frame), `insert-sps-pps=1` (parameter sets
  on every IDR frame) and `insert-vui=1`; they take only NVMM input, so `nvvidconv` is told to output
  `video/x-raw(memory:NVMM),format=I420`.
Cameras: `v4l2src` (USB/UVC, `/dev/videoN`, system-memory frames) or `nvarguscamerasrc` (CSI, through the ISP; it
outputs NV12 in NVMM buffers, so its caps say `video/x-raw(memory:NVMM)`).
Values equal to an element's default are left out (`device=/dev/video0`, `sensor-id=0`, `pt=96`), as in the seed.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, fields, replace

from core.errors import UserError

CODECS = ("h265", "h264")
JETPACKS = (4, 5)
DEFAULT_PORT = 5000
WIDTH_RANGE = (32, 4096)
HEIGHT_RANGE = (32, 4096)
FPS_RANGE = (1, 120)
BITRATE_RANGE = (100_000, 100_000_000)  # bit/s
KEYFRAME_RANGE = (1, 600)  # frames
CSI = "csi"
_DEVICE = re.compile(r"/dev/video(?P<number>\d{1,3})")
_CSI = re.compile(r"csi(?::(?P<sensor>\d{1,3}))?")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
DEFAULT_V4L2_DEVICE = "/dev/video0"


@dataclass(frozen=True)
class SenderOptions:
    """What the Jetson sends and where. `camera` is `/dev/videoN` (v4l2src) or `csi`/`csi:N` (nvarguscamerasrc,
    sensor N). `bitrate` (bit/s) and `keyframe_interval` (frames) of None keep the encoder's own default."""

    host: str
    port: int = DEFAULT_PORT
    codec: str = "h265"
    width: int = 640
    height: int = 480
    fps: int = 30
    bitrate: int | None = 4_000_000
    keyframe_interval: int | None = 30
    camera: str = DEFAULT_V4L2_DEVICE
    jetpack: int = 5

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    options: SenderOptions  # host is a placeholder, replaced by the chosen address


HOST_PLACEHOLDER = "HOST"  # where a command is shown for no particular server
SEED_PRESET = "seed"
PRESETS: dict[str, Preset] = {preset.name: preset for preset in (
    Preset(SEED_PRESET, "The original sender command, unchanged: USB camera, 640x480 at 30 fps, omxh265enc (JetPack 4) "
                   "with its default bitrate and keyframe interval",
           SenderOptions(HOST_PLACEHOLDER, jetpack=4, bitrate=None, keyframe_interval=None)),
    Preset("jetpack4-usb-h265", "JetPack 4, USB camera, 640x480 at 30 fps, H.265 at 4 Mbit/s, a keyframe every second",
           SenderOptions(HOST_PLACEHOLDER, jetpack=4)),
    Preset("jetpack5-usb-h265", "JetPack 5 or later, USB camera, 640x480 at 30 fps, H.265 at 4 Mbit/s, a keyframe "
                                "every second",
           SenderOptions(HOST_PLACEHOLDER, jetpack=5)),
    Preset("jetpack5-usb-h264", "JetPack 5 or later, USB camera, 640x480 at 30 fps, H.264 at 4 Mbit/s",
           SenderOptions(HOST_PLACEHOLDER, jetpack=5, codec="h264")),
    Preset("jetpack5-csi-1080p-h265", "JetPack 5 or later, CSI camera (sensor 0), 1920x1080 at 30 fps, H.265 at "
                                      "8 Mbit/s",
           SenderOptions(HOST_PLACEHOLDER, jetpack=5, camera=CSI, width=1920, height=1080, bitrate=8_000_000)),
    Preset("jetpack4-csi-720p-h265", "JetPack 4, CSI camera (sensor 0), 1280x720 at 30 fps, H.265 at 4 Mbit/s",
           SenderOptions(HOST_PLACEHOLDER, jetpack=4, camera=CSI, width=1280, height=720)),
)}


def preset_options(name: str, host: str, **overrides: object) -> SenderOptions:
    """The preset's options sent to `host`, with `overrides` (None values ignored) applied and all checked."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r} (choose one of {', '.join(PRESETS)})")
    given = {key: value for key, value in overrides.items() if value is not None}
    unknown = set(given) - {option.name for option in fields(SenderOptions)}
    if unknown:
        raise UserError(f"unknown sender option(s): {', '.join(sorted(unknown))}")
    return validated(replace(PRESETS[name].options, host=host, **given))  # type: ignore[arg-type]


def _check_range(label: str, value: object, bounds: tuple[int, int], unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise UserError(f"{label} must be a whole number from {bounds[0]:,} to {bounds[1]:,}{unit}, not {value!r}")


def check_host(host: str) -> str:
    """`host` if it is an IPv4 address or a host name (letters, digits, hyphens and dots only), else UserError."""
    if re.fullmatch(r"[0-9.]+", host or ""):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise UserError(f"not a valid IPv4 address: {host!r}") from None
    labels = (host or "").split(".")
    if not host or len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise UserError(f"not an IPv4 address or host name: {host!r}")
    return host


def camera_kind(camera: str) -> tuple[str, int]:
    """("v4l2", N) for /dev/videoN, ("csi", N) for csi or csi:N; UserError otherwise."""
    if match := _DEVICE.fullmatch(camera or ""):
        return "v4l2", int(match["number"])
    if match := _CSI.fullmatch(camera or ""):
        return CSI, int(match["sensor"] or 0)
    raise UserError(f"camera must be /dev/videoN (USB) or csi / csi:N (CSI sensor N), not {camera!r}")


def validated(options: SenderOptions) -> SenderOptions:
    """`options` with the host normalized, after checking every value (UserError names the first bad one)."""
    host = check_host(options.host)
    _check_range("port", options.port, (1, 65535))
    if options.codec not in CODECS:
        raise UserError(f"codec must be one of {', '.join(CODECS)}, not {options.codec!r}")
    if options.jetpack not in JETPACKS:
        raise UserError(f"JetPack release must be 4 or 5 (5 covers 5.x and later), not {options.jetpack!r}")
    _check_range("width", options.width, WIDTH_RANGE, " pixels")
    _check_range("height", options.height, HEIGHT_RANGE, " pixels")
    if options.width % 2 or options.height % 2:
        raise UserError(f"width and height must be even for 4:2:0 video, not {options.width}x{options.height}")
    _check_range("frame rate", options.fps, FPS_RANGE, " fps")
    if options.bitrate is not None:
        _check_range("bitrate", options.bitrate, BITRATE_RANGE, " bit/s")
    if options.keyframe_interval is not None:
        _check_range("keyframe interval", options.keyframe_interval, KEYFRAME_RANGE, " frames")
    camera_kind(options.camera)
    return replace(options, host=host)


def _camera(options: SenderOptions) -> str:
    kind, number = camera_kind(options.camera)
    if kind == CSI:
        sensor = f" sensor-id={number}" if number else ""
        return (f"nvarguscamerasrc{sensor} ! 'video/x-raw(memory:NVMM),width={options.width},height={options.height},"
                f"framerate={options.fps}/1,format=NV12'")
    device = f" device={options.camera}" if options.camera != DEFAULT_V4L2_DEVICE else ""
    return f"v4l2src{device} ! video/x-raw,framerate={options.fps}/1,width={options.width},height={options.height}"


def encoder_factory(codec: str, jetpack: int) -> str:
    return f"omx{codec}enc" if jetpack == 4 else f"nvv4l2{codec}enc"


def _encoder(options: SenderOptions) -> str:
    settings = [f"bitrate={options.bitrate}"] if options.bitrate is not None else []
    if options.keyframe_interval is not None:
        settings.append(f"iframeinterval={options.keyframe_interval}")
        if options.jetpack != 4:
            settings.append(f"idrinterval={options.keyframe_interval}")
    settings += ["insert-vui=1"] if options.jetpack == 4 else ["insert-sps-pps=1", "insert-vui=1"]
    convert = "nvvidconv" if options.jetpack == 4 else "nvvidconv ! 'video/x-raw(memory:NVMM),format=I420'"
    return f"{convert} ! {encoder_factory(options.codec, options.jetpack)} {' '.join(settings)}"


def sender_command(options: SenderOptions) -> str:
    """The gst-launch-1.0 command to run on the Jetson (one line, quoted for a POSIX shell)."""
    options = validated(options)
    codec = options.codec
    return (f"gst-launch-1.0 {_camera(options)} ! {_encoder(options)} ! {codec}parse ! rtp{codec}pay config-interval=1 "
            f"! udpsink host={options.host} port={options.port} sync=false -e")
