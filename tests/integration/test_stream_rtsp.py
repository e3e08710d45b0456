"""RTSP from a real server on 127.0.0.1 (GStreamer's RTSP server library, see rtsp_server.py): received and decoded
over TCP and UDP, and received again by itself after the server is killed and started again; the camera's
credentials never show in the health, the source's name or the logs; a camera over the pixel cap is refused and
one faster than the frame-rate cap is thinned, both counted."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest

from core.stream import open_source
from core.stream.base import FrameSource, SourceLimits
from core.stream.sources import SourcePolicy
from tests.integration.rtsp_helpers import RtspServer, free_tcp_port
from tests.polling import wait_for


@pytest.fixture
def rtsp_servers() -> Iterator[Callable[[int, str], RtspServer]]:
    """Starts RTSP servers for the test and kills whichever are left at its end."""
    started: list[RtspServer] = []

    def start(port: int, codec: str = "h264") -> RtspServer:
        started.append(RtspServer(port, codec).start())
        return started[-1]

    yield start
    for server in started:
        server.kill()


def drain_until(source: FrameSource, frames: int, timeout: float) -> int:
    """Read frames until `frames` were read or `timeout` passed; how many were read."""
    count = 0

    def enough() -> bool:
        nonlocal count
        if count < frames:
            count += source.read(timeout=0.2) is not None
        return count >= frames

    wait_for(enough, timeout, interval=0.0)  # the read waits by itself
    return count


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("transport", "codec"), [("tcp", "h265"), ("udp", "h264")])
def test_rtsp_stream_is_received_and_decoded(rtsp_servers, transport: str, codec: str) -> None:
    port = free_tcp_port()
    rtsp_servers(port, codec)
    with open_source(f"rtsp://127.0.0.1:{port}/cam?transport={transport}") as source:
        assert drain_until(source, 10, timeout=20) == 10
        health = source.health_snapshot()
    assert (health["width"], health["height"], health["transport"]) == (320, 240, transport)
    assert health["sessions"] == 1 and health["reconnects"] == 0 and health["frames_decoded"] >= 10


@pytest.mark.timeout(90)
def test_rtsp_source_reconnects_after_the_server_restarts(rtsp_servers, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_tcp_port()
    server = rtsp_servers(port)
    with open_source(f"rtsp://camuser:s3cret@127.0.0.1:{port}/cam?transport=tcp") as source:
        assert drain_until(source, 5, timeout=20) == 5
        server.kill()
        assert wait_for(lambda: not source.health.connected, timeout=10), "the lost session went unnoticed"
        decoded_before = source.health.frames_decoded
        assert wait_for(lambda: source.health.state == "no_signal", timeout=5)
        assert wait_for(lambda: source.health.connect_failures >= 1, timeout=10)  # it keeps trying meanwhile
        rtsp_servers(port)
        assert wait_for(lambda: source.health.frames_decoded >= decoded_before + 5, timeout=30), \
            f"no frames after the server came back: {source.health_snapshot()}"
        health = source.health_snapshot()
    assert health["reconnects"] >= 1 and health["sessions"] == health["reconnects"] + 1
    assert health["last_error"] and health["no_signal_events"] >= 1
    shown = json.dumps(health) + source.uri + caplog.text
    assert "s3cret" not in shown and "camuser" not in shown
    assert source.uri == f"rtsp://***@127.0.0.1:{port}/cam?transport=tcp"


@pytest.mark.timeout(90)
def test_an_rtsp_camera_over_the_caps_is_refused_or_thinned_and_says_why(rtsp_servers) -> None:
    port = free_tcp_port()
    rtsp_servers(port)  # 320x240 at 15 fps
    uri = f"rtsp://127.0.0.1:{port}/cam"
    with open_source(uri, SourcePolicy(limits=SourceLimits(max_pixels=320 * 240 - 1))) as source:
        assert wait_for(lambda: source.health.frames_oversize >= 1 and source.health.last_error, 30)
        assert source.read(timeout=0) is None
        refused = source.health_snapshot()
    assert "(320x240) are larger than this server decodes" in refused["last_error"]
    assert "EDS_MAX_DECODED_PIXELS" in refused["last_error"] and refused["frames_decoded"] == 0
    with open_source(uri, SourcePolicy(limits=SourceLimits(max_fps=5.0))) as source:
        assert wait_for(lambda: source.health.frames_over_rate >= 5, 30)
        assert drain_until(source, 1, timeout=10) == 1
