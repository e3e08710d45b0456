"""The demo scene, file sources, URI forms (rtp codec=auto, rtsp://, webcams), credentials kept out of sight, an RTSP
source with no server, and source errors."""
from __future__ import annotations

import json
import logging
import socket
import time

import av
import numpy as np
import pytest

from core.errors import UserError
from core.stream import open_source
from core.stream.demo import DEMO_CLASSES, draw_demo_frame
from core.stream.rtsp_source import RtspSource
from core.stream.shown_uri import display_uri
from core.stream.sources import parse_source_uri
from tests.frame_stamps import read_frame_counter
from tests.polling import wait_for


def test_demo_frame_is_deterministic_with_boxes_inside() -> None:
    first, objects = draw_demo_frame(17, 320, 240, wall_time=0.0)
    again, _ = draw_demo_frame(17, 320, 240, wall_time=0.0)
    assert first.shape == (240, 320, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert [o.class_name for o in objects] == list(DEMO_CLASSES[1:])
    for item in objects:
        x1, y1, x2, y2 = item.box
        assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240
    later, moved = draw_demo_frame(30, 320, 240, wall_time=0.0)
    assert moved[0].box != objects[0].box and not np.array_equal(first, later)


@pytest.mark.parametrize("index", [0, 1, 255, 4097, 65535])
def test_frame_counter_survives_lossy_encoding(index: int) -> None:
    image, _ = draw_demo_frame(index, 320, 240)
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.options = {"preset": "ultrafast", "crf": "35"}
    decoder = av.CodecContext.create("h264", "r")
    frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
    frame.pts = 0
    packets = list(encoder.encode(frame)) + list(encoder.encode(None))
    decoded = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    assert read_frame_counter(decoded[0].to_ndarray(format="bgr24")) == index


@pytest.mark.timeout(20)
def test_file_source_reads_every_frame_when_not_realtime(tmp_path) -> None:
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(20):
            frame = av.VideoFrame.from_ndarray(draw_demo_frame(index, 160, 120)[0], format="bgr24")
            container.mux(stream.encode(frame.reformat(format="yuv420p")))
        container.mux(stream.encode(None))
    with open_source(f"{path}?realtime=0") as source:
        frames = list(source)
    assert [read_frame_counter(f.image) for f in frames] == list(range(20))
    health = source.health_snapshot()
    assert health["frames_decoded"] == 20 and health["frames_dropped"] == 0 and health["keyframes"] >= 1
    assert (health["width"], health["height"], health["state"]) == (160, 120, "stopped")


def test_missing_file_and_busy_port_are_user_errors(tmp_path) -> None:
    with pytest.raises(UserError, match="not found"):
        open_source(str(tmp_path / "missing.mp4"))
    with open_source("rtp://127.0.0.1:0?codec=h265") as first:
        with pytest.raises(UserError, match="cannot listen"):
            open_source(f"rtp://127.0.0.1:{first.port}?codec=h265")


@pytest.mark.parametrize(("uri", "kind", "target", "options"), [
    ("rtp://0.0.0.0:5000", "rtp", "0.0.0.0:5000", {}),
    ("rtp://0.0.0.0:5000?codec=auto", "rtp", "0.0.0.0:5000", {"codec": "auto"}),
    ("rtsp://cam.local/live", "rtsp", "rtsp://cam.local/live", {}),
    ("rtsp://u:p@10.1.2.3:8554/s/1?transport=udp", "rtsp", "rtsp://u:p@10.1.2.3:8554/s/1", {"transport": "udp"}),
    ("rtsp://[::1]:554/cam/realmonitor?channel=1&transport=tcp&subtype=0", "rtsp",
     "rtsp://[::1]:554/cam/realmonitor?channel=1&subtype=0", {"transport": "tcp"}),
    ("/dev/video0", "webcam", "/dev/video0", {}),
    ("/dev/video255?width=320&height=240", "webcam", "/dev/video255", {"width": "320", "height": "240"}),
])
def test_more_source_uris(uri, kind, target, options) -> None:
    spec = parse_source_uri(uri)
    assert (spec.kind, spec.target, spec.options) == (kind, target, options)


@pytest.mark.parametrize(("uri", "message"), [
    ("rtsp://", "expected rtsp://HOST"), ("rtsp://host:0/x", "1..65535"), ("rtsp://host:70000/x", "1..65535"),
    ("rtsp://host:port/x", "1..65535"), ("rtsp://ho st/x", "spaces"), ("rtsp://host/x\x00", "control"),
    ("rtsp://h_o$t/x", "expected rtsp://HOST"), ("rtsp://host/x?transport=http", "tcp or udp"),
    ("rtsp://host/" + "x" * 2100, "longer than 2048"), ("/dev/video", "/dev/videoN"), ("/dev/video256", "0 to 255"),
    ("/dev/video0/../../etc/passwd", "/dev/videoN"), ("/dev/videoX", "/dev/videoN"),
    ("http://host/stream.mjpg", "unsupported source"), ("rtp://0.0.0.0:5000?codec=vp8", "auto, h264, h265"),
])
def test_bad_rtsp_and_webcam_uris(uri, message) -> None:
    with pytest.raises(UserError, match=message):
        parse_source_uri(uri)


def test_rtsp_errors_never_quote_credentials() -> None:
    with pytest.raises(UserError) as caught:
        parse_source_uri("rtsp://admin:hunter2@cam:99999/x")
    assert "hunter2" not in str(caught.value) and "rtsp://***@cam:99999/x" in str(caught.value)


@pytest.mark.parametrize(("uri", "shown"), [
    ("rtsp://admin:pa:ss@cam:554/live?x=1", "rtsp://***@cam:554/live?x=1"),
    ("rtsp://admin@cam/live", "rtsp://***@cam/live"),
    ("rtsp://a:b@c@cam/l@st", "rtsp://***@cam/l@st"),
    ("rtsp://cam/live?user=a@b", "rtsp://cam/live?user=a@b"),
    ("demo:", "demo:"), ("/videos/a@b.mp4", "/videos/a@b.mp4"),
])
def test_display_uri_hides_user_and_password(uri, shown) -> None:
    assert display_uri(uri) == shown


@pytest.mark.timeout(30)
def test_rtsp_source_without_a_server_keeps_trying_and_stops_promptly(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = RtspSource(f"rtsp://cam:secret@127.0.0.1:{port}/x", f"rtsp://cam:secret@127.0.0.1:{port}/x",
                        backoff_initial=0.05, backoff_max=0.2)
    wait_for(lambda: source.health.connect_failures >= 4, 10, interval=0.05)
    assert source.read(timeout=0.1) is None and not source.ended
    started = time.monotonic()
    source.close()
    assert time.monotonic() - started < 2.0
    health = source.health_snapshot()
    assert health["connect_failures"] >= 4 and health["sessions"] == 0 and health["state"] == "stopped"
    assert health["retry_in_s"] == 0.2 and "refused" in health["last_error"].lower()
    assert "secret" not in json.dumps(health) + source.uri + caplog.text


def test_open_source_makes_an_rtsp_source_named_without_credentials() -> None:
    with open_source("rtsp://cam:secret@127.0.0.1:1/x?transport=udp") as source:
        assert isinstance(source, RtspSource)
        assert source.uri == "rtsp://***@127.0.0.1:1/x?transport=udp" and source.health.transport == "udp"


def test_webcams_open_through_ffmpegs_v4l2_input() -> None:
    assert "video4linux2,v4l2" in av.formats_available
    with pytest.raises(UserError, match="cannot open camera /dev/video63: .*No such file"):
        open_source("/dev/video63?width=320&height=240&fps=15")


@pytest.mark.timeout(20)
def test_rtp_codec_auto_is_the_default_and_decodes_either_codec() -> None:
    from core.stream.rtp_source import RtpSource
    from core.stream.rtp_sender import RtpSender
    from tests.integration.stream_helpers import send_demo_frames

    for codec in ("h264", "h265"):
        with open_source("rtp://127.0.0.1:0") as source:
            assert isinstance(source, RtpSource)
            send_demo_frames(RtpSender("127.0.0.1", source.port, codec, fps=30), frames=15, width=160, height=120)
            wait_for(lambda: source.health.frames_decoded >= 5, 5, interval=0.05)
            assert source.health.frames_decoded >= 5, source.health_snapshot()
            assert source.health_snapshot()["codec"] == codec
