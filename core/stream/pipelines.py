"""Text builders for stream descriptions: SDP for FFmpeg-based players, the software sender that stands in for a
Jetson on a PC, and the receive pipeline of `rtp://...&decoder=jetson|gstreamer` sources.

Pure functions (no I/O), so they are tested as text. The Jetson's own sender command has its one builder in
`core.gst.jetson_sender` (`sender_command`).
"""
from __future__ import annotations

from core.stream.nal import FORMATS, NalFormat


def _format(codec: str) -> NalFormat:
    return FORMATS[codec]


def sdp_text(*, port: int, codec: str = "h265", payload_type: int = 96, address: str = "127.0.0.1") -> str:
    """An SDP description of one RTP video stream, for `ffplay -protocol_whitelist file,udp,rtp -i stream.sdp`."""
    family = "IP6" if ":" in address else "IP4"
    lines = [
        "v=0",
        f"o=- 0 0 IN {family} {address}",
        "s=edge detector studio",
        f"c=IN {family} {address}",
        "t=0 0",
        f"m=video {port} RTP/AVP {payload_type}",
        f"a=rtpmap:{payload_type} {_format(codec).encoding_name}/90000",
    ]
    if codec == "h264":
        lines.append(f"a=fmtp:{payload_type} packetization-mode=1")
    return "\r\n".join(lines) + "\r\n"


def rtp_caps(*, codec: str = "h265", payload_type: int = 96) -> str:
    return (f"application/x-rtp,media=video,clock-rate=90000,encoding-name={_format(codec).encoding_name},"
            f"payload={payload_type}")


def software_send_pipeline(*, host: str, port: int, codec: str = "h265", width: int = 640, height: int = 480,
                           fps: int = 30, frames: int | None = None, key_interval: int = 30) -> str:
    """The same element chain in software (videotestsrc, x265enc/x264enc), a stand-in for a Jetson on a PC.

    `format=I420` matters: without it x265enc picks 4:4:4 (Rext profile), which a Jetson never sends.
    """
    source = "videotestsrc is-live=true" + (f" num-buffers={frames}" if frames else "")
    if codec == "h265":
        encoder = (f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={key_interval} "
                   "! video/x-h265,profile=main ! h265parse ! rtph265pay config-interval=1 pt=96")
    else:
        encoder = (f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={key_interval} "
                   "! video/x-h264,profile=baseline ! h264parse ! rtph264pay config-interval=1 pt=96")
    return (f"{source} ! video/x-raw,framerate={fps}/1,width={width},height={height} ! videoconvert "
            f"! video/x-raw,format=I420 ! {encoder} ! udpsink host={host} port={port} sync=false")


def receive_pipeline(*, port: int = 5000, codec: str = "h265", payload_type: int = 96, jetson: bool = True,
                     jitter_ms: int = 50, address: str | None = None) -> str:
    """The receive pipeline of `rtp://ADDRESS:PORT?codec=...&decoder=jetson|gstreamer` sources: hardware decoding on
    a Jetson (nvv4l2decoder), libav on a PC, into an appsink; `address` is the one to bind (udpsrc's default,
    every IPv4 interface, when None).

    The jitter buffer drops what is later than `jitter_ms` instead of stalling; appsink keeps at most 2 frames and
    drops the oldest, so a slow consumer never builds a queue.
    """
    name = _format(codec).encoding_name.lower()
    if jetson:
        decode = ("nvv4l2decoder ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR")
    else:
        decode = f"avdec_{name} ! videoconvert ! video/x-raw,format=BGR"
    bind = f"address={address} " if address else ""
    return (f'udpsrc {bind}port={port} caps="{rtp_caps(codec=codec, payload_type=payload_type)}" '
            f"! rtpjitterbuffer latency={jitter_ms} drop-on-latency=true ! rtp{name}depay ! {name}parse "
            f"! {decode} ! appsink name=sink max-buffers=2 drop=true sync=false emit-signals=false")
