"""SDP text, GStreamer pipelines and source URIs, checked as text (no I/O)."""
from __future__ import annotations

import pytest

from core.config import REPO_ROOT
from core.errors import UserError
from core.stream.pipelines import receive_pipeline, sdp_text, software_send_pipeline
from core.stream.sources import parse_source_uri


def test_sdp_for_h265_and_h264() -> None:
    assert sdp_text(port=5000).split("\r\n") == [
        "v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=edge detector studio", "c=IN IP4 127.0.0.1", "t=0 0",
        "m=video 5000 RTP/AVP 96", "a=rtpmap:96 H265/90000", ""]
    h264 = sdp_text(port=6000, codec="h264", payload_type=97, address="::1")
    assert "c=IN IP6 ::1\r\n" in h264 and "m=video 6000 RTP/AVP 97\r\n" in h264
    assert h264.endswith("a=rtpmap:97 H264/90000\r\na=fmtp:97 packetization-mode=1\r\n")


def test_software_sender_forces_4_2_0_and_bounds_frames() -> None:
    text = software_send_pipeline(host="127.0.0.1", port=5004, frames=90)
    assert text.startswith("videotestsrc is-live=true num-buffers=90 ! video/x-raw,framerate=30/1,width=640,height=480")
    assert "video/x-raw,format=I420 ! x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30" in text
    assert text.endswith("rtph265pay config-interval=1 pt=96 ! udpsink host=127.0.0.1 port=5004 sync=false")
    assert "x264enc" in software_send_pipeline(host="h", port=1, codec="h264")


def test_receive_pipelines_for_jetson_and_pc() -> None:
    jetson = receive_pipeline(port=5000)
    assert jetson.startswith('udpsrc port=5000 caps="application/x-rtp,media=video,clock-rate=90000,'
                             'encoding-name=H265,payload=96" ! rtpjitterbuffer latency=50 drop-on-latency=true')
    assert "rtph265depay ! h265parse ! nvv4l2decoder ! nvvidconv" in jetson
    assert jetson.endswith("video/x-raw,format=BGR ! appsink name=sink max-buffers=2 drop=true sync=false "
                           "emit-signals=false")
    assert "avdec_h264" in receive_pipeline(codec="h264", jetson=False)


def test_the_readme_shows_the_jetson_receive_pipeline_its_builder_makes() -> None:
    readme = " ".join((REPO_ROOT / "README.md").read_text(encoding="utf-8").split())
    shown = readme.partition("(`core.stream.pipelines.receive_pipeline`): `")[2].partition("`")[0]
    assert shown == receive_pipeline(port=5000, codec="h265", jetson=True, address="0.0.0.0")


@pytest.mark.parametrize(("uri", "kind", "target", "options"), [
    ("rtp://0.0.0.0:5000?codec=h265", "rtp", "0.0.0.0:5000", {"codec": "h265"}),
    ("rtp://127.0.0.1:5002?codec=h264&payload=97", "rtp", "127.0.0.1:5002", {"codec": "h264", "payload": "97"}),
    ("demo:", "demo", "", {}),
    ("demo:?width=320&height=240", "demo", "", {"width": "320", "height": "240"}),
    ("/dev/video0", "webcam", "/dev/video0", {}),
    ("clips/a b.mp4", "file", "clips/a b.mp4", {}),
    ("file:///data/x.mkv?loop=1", "file", "/data/x.mkv", {"loop": "1"}),
    ("gst:yard-nvdec", "gst", "yard-nvdec", {}),
    ("rtp://[::]:5000?codec=h265&decoder=jetson", "rtp", ":::5000", {"codec": "h265", "decoder": "jetson"}),
])
def test_parse_source_uri(uri, kind, target, options) -> None:
    spec = parse_source_uri(uri)
    assert (spec.kind, spec.target, spec.options) == (kind, target, options)


@pytest.mark.parametrize(("uri", "message"), [
    ("", "empty"), ("rtp://0.0.0.0?codec=h265", "BIND:PORT"), ("rtp://0.0.0.0:5000?codec=vp8", "unknown codec"),
    ("rtp://0.0.0.0:5000?bitrate=3", "unknown option"), ("demo:?colour=red", "unknown option"), ("gst:", "gst:NAME"),
    ("rtp://[::1", "BIND:PORT"), ("rtp://[::1]:x", "BIND:PORT"), ("rtp://a b:5000", "BIND:PORT"),
    ("rtsp://[::1/live", "rtsp://HOST"), ("rtp://0.0.0.0:5000?decoder=vlc", "unknown decoder"),
    ("rtp://0.0.0.0:5000?decoder=jetson", "needs the codec named"),
    ("rtp://0.0.0.0:0?codec=h265&decoder=gstreamer", "fixed port"),
    ("gst:udpsrc port=5000 ! fakesink", "never a pipeline"),
])
def test_bad_uris_are_one_line_user_errors(uri, message) -> None:
    with pytest.raises(UserError, match=message):
        parse_source_uri(uri)
