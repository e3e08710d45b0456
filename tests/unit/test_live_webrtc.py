"""WebRTC delivery with both peers in this process (aiortc as the browser, on 127.0.0.1): two viewers of one
pipeline are sent the broadcast's frames without any encode per viewer, every frame's overlay arrives on the data
channel keyed by the RTP timestamp the frame itself carries, a lost picture asks for a keyframe, and the browser's
reports set "fps shown"."""
from __future__ import annotations

import asyncio
import json

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import vpx
from test_live_viewer import BoxDetector

from core.errors import UserError
from core.live import PipelineRegistry
from core.live.broadcast import Broadcasts
from core.live.viewer import Viewer
from core.live.webrtc import PeerServer
from tests.event_loops import run_alone

URI = "demo:?width=160&height=120&fps=30"
FRAMES = 30


async def _watch(server: PeerServer, key: str, viewer: Viewer) -> tuple[list[int], dict[int, dict], RTCPeerConnection]:
    """Connect a browser-like peer for `viewer`; the RTP timestamps of its first FRAMES frames as they came on the
    wire (what a browser reports for a frame it shows) and the overlays received by then (by RTP timestamp)."""
    client = RTCPeerConnection()
    receiver = client.addTransceiver("video", direction="recvonly").receiver
    wire: list[int] = []  # aiortc hands its frames over with pts counted from the first packet: keep the originals
    handle_packet = receiver._handle_rtp_packet

    async def note_timestamp(packet, arrival_time_ms):
        wire.append(packet.timestamp)
        return await handle_packet(packet, arrival_time_ms)

    receiver._handle_rtp_packet = note_timestamp
    channel = client.createDataChannel("overlay", ordered=False, maxRetransmits=0)
    overlays: dict[int, dict] = {}
    channel.on("message", lambda message: overlays.__setitem__(json.loads(message)["rtp"], json.loads(message)))
    tracks: asyncio.Queue = asyncio.Queue()
    client.on("track", tracks.put_nowait)
    await client.setLocalDescription(await client.createOffer())
    answer = await asyncio.to_thread(server.answer, key, client.localDescription.sdp, viewer)
    await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    track = await asyncio.wait_for(tracks.get(), 20)
    pts = [(await asyncio.wait_for(track.recv(), 20)).pts for _ in range(FRAMES)]
    timestamps = [(wire[0] + value) % (1 << 32) for value in pts]
    await asyncio.sleep(0.3)  # the last frames' overlays
    channel.send(json.dumps({"frames": FRAMES, "t": 2000.0}))
    return timestamps, overlays, client


async def _picture_lost(client: RTCPeerConnection) -> None:
    """What a browser sends when it lost a picture: an RTCP picture-loss indication for the video's SSRC."""
    receiver = client.getTransceivers()[0].receiver
    await receiver._send_rtcp_pli(receiver.getSynchronizationSources()[0].source)


@pytest.mark.timeout(120)
def test_two_viewers_get_the_shared_frames_and_each_frame_s_overlay(monkeypatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    encodes_by_aiortc = []
    monkeypatch.setattr(vpx.Vp8Encoder, "encode", lambda *args, **kwargs: encodes_by_aiortc.append(1))
    registry = PipelineRegistry()
    viewers = [Viewer(registry, clock=lambda: 0.0) for _ in range(2)]  # a clock that stands still: pages stay open
    server = PeerServer(Broadcasts(), ice=[])
    try:
        pipeline = viewers[0].watch(URI, BoxDetector)
        assert viewers[1].watch(URI, BoxDetector) is pipeline

        async def both():
            return await asyncio.gather(_watch(server, "page-1", viewers[0]), _watch(server, "page-2", viewers[1]))

        async def run():
            watched = await both()
            broadcast = server.broadcasts.get(pipeline)
            asked = broadcast.keyframe_requests
            await _picture_lost(watched[0][2])
            for _ in range(100):
                if broadcast.keyframe_requests > asked:
                    break
                await asyncio.sleep(0.05)
            for _, _, client in watched:
                await client.close()
            return watched, broadcast.keyframe_requests - asked

        watched, asked_on_loss = run_alone(run())
        assert asked_on_loss >= 1  # a lost picture asks the shared encoder for a keyframe
        broadcast = server.broadcasts.get(pipeline)
        stats = broadcast.stats()
        assert not encodes_by_aiortc  # aiortc only packetized what the broadcast encoded
        assert stats["subscriptions"] == 2 and stats["frames_sent"] >= 2 * FRAMES
        assert stats["results_encoded"] <= stats["results_processed"]
        for timestamps, overlays, _ in watched:
            matched = [overlays[rtp] for rtp in timestamps if rtp in overlays]
            assert len(matched) >= FRAMES - 2, f"{len(matched)} of {FRAMES} frames had their overlay"
            live = [overlay for overlay in matched if overlay["signal"] == "live"]
            assert live and all(overlay["w"] == 160 and overlay["h"] == 120 for overlay in live)
            assert {box[5] for box in live[-1]["boxes"]} == {1, 2}  # both classes: each browser filters its own
        assert all(viewer.fps_shown() == 0.0 for viewer in viewers)  # one report each: no rate yet
        assert server.answered == 2
    finally:
        server.shutdown()
        for viewer in viewers:
            viewer.close()
        registry.stop_all()


def test_an_offer_that_is_not_sdp_is_refused() -> None:
    server = PeerServer(Broadcasts(), ice=[], max_peers=1)
    try:
        with pytest.raises(UserError, match="not a WebRTC session description"):
            server.answer("page", "<script>", Viewer(PipelineRegistry()))
        with pytest.raises(UserError, match="not a WebRTC session description"):
            server.answer("page", "v=0\r\n" + "a" * 70_000, Viewer(PipelineRegistry()))
    finally:
        server.shutdown()


def test_browser_reports_set_fps_shown() -> None:
    now = [0.0]
    viewer = Viewer(PipelineRegistry(), clock=lambda: now[0])
    viewer.note_browser_frames(10, 1000.0)
    viewer.note_browser_frames(40, 2000.0)
    assert viewer.fps_shown() == 30.0
    viewer.note_browser_frames(5, 100.0)  # a new connection counts from 0
    assert viewer.fps_shown() == 0.0
    now[0] = 10.0  # reports stopped: the frames handed to the browser count instead (none)
    assert viewer.fps_shown() == 0.0
