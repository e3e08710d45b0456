"""WebRTC delivery of live video: every viewer of a pipeline is sent the same encoded frames, with the detections
of each frame beside it on a data channel, and the browser draws the boxes its own filter keeps.

`PeerServer` answers a browser's offer (receive-only video plus a data channel it opens) with an aiortc peer
connection on its own event-loop thread. The video track of each peer hands aiortc the broadcast's VP8 frames
(`core.live.broadcast`), which aiortc only packetizes: no encode per viewer. Over the data channel each frame's
overlay goes out just before its packets, keyed by the frame's RTP timestamp, which the browser reads back for each
frame it shows (`requestVideoFrameCallback`'s `rtpTimestamp`); the browser reports the frames it has shown about
once a second. A picture-loss request from the browser makes the broadcast's next frame a keyframe.

Settings (`core.config.Settings`, from the environment):
- `EDS_ICE_SERVERS`: ICE servers for browsers outside the LAN, as JSON (`[{"urls": ["stun:host:3478"]}]`) or a
  comma-separated list of URLs; empty by default, so a LAN install never contacts a STUN/TURN server.
- `EDS_WEBRTC_HOST_ADDRESSES`: comma-separated addresses to offer as host candidates instead of every interface's
  (to pin the LAN interface, or 127.0.0.1 for a browser on the same machine, which aioice leaves out).
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import av
from aiortc import (MediaStreamTrack, RTCConfiguration, RTCDataChannel, RTCIceServer, RTCPeerConnection,
                    RTCRtpSender, RTCSessionDescription)
from aiortc.mediastreams import MediaStreamError

from core.errors import UserError
from core.live.broadcast import (PLACEHOLDER_PERIOD_S, VIDEO_TIME_BASE, Broadcasts, EncodedFrame, Subscription)
from core.live.viewer import Viewer

logger = logging.getLogger(__name__)

MAX_PEERS = 64
MAX_OFFER_BYTES = 64_000
ANSWER_TIMEOUT_S = 20.0
MAX_REPORT_BYTES = 1_000
STARTING_TEXT = "STARTING..."
_RTP_CLOCK = 90_000


def ice_servers(setting: str) -> list[dict]:
    """ICE servers from the EDS_ICE_SERVERS setting's text (see the module docstring); [] when empty."""
    text = setting.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            servers = json.loads(text)
        except json.JSONDecodeError as error:
            raise UserError(f"EDS_ICE_SERVERS is not valid JSON: {error.msg}") from None
        if not isinstance(servers, list) or not all(isinstance(s, dict) and "urls" in s for s in servers):
            raise UserError('EDS_ICE_SERVERS must be a list of {"urls": [...]} objects')
        return servers
    return [{"urls": [url.strip()]} for url in text.split(",") if url.strip()]


def pin_host_addresses(setting: str) -> list[str]:
    """Apply the EDS_WEBRTC_HOST_ADDRESSES setting (if not empty) to aioice's host-candidate gathering; returns the
    addresses."""
    addresses = [part.strip() for part in setting.split(",") if part.strip()]
    if addresses:
        import aioice.ice

        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
            a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]
    return addresses


def sent_rtp_timestamp(sender: RTCRtpSender) -> int:
    """The RTP timestamp of the last packet `sender` sent (0 before the first). aiortc adds a random origin to
    each frame's pts and keeps it to itself; the timestamp it puts in its sender reports is this value."""
    return getattr(sender, "_RTCRtpSender__rtp_timestamp")


def frame_message(frame: EncodedFrame, rtp_timestamp: int) -> str:
    """The data-channel message for one frame: its RTP timestamp (as the browser sees it) and its overlay."""
    return f'{{"rtp":{rtp_timestamp},{frame.overlay[1:]}'


class BroadcastTrack(MediaStreamTrack):
    """The video one peer is sent: the broadcast of its viewer's pipeline (following the viewer when it switches
    source), a "starting" picture twice a second before there is one, and nothing while the page is gone. Waiting
    for frames happens on `waiters` threads, never on the event loop."""

    kind = "video"

    def __init__(self, viewer: Viewer, broadcasts: Broadcasts, waiters: ThreadPoolExecutor) -> None:
        super().__init__()
        self.viewer, self.broadcasts, self._waiters = viewer, broadcasts, waiters
        self.sender: RTCRtpSender | None = None
        self.channel: RTCDataChannel | None = None
        self._subscription: Subscription | None = None
        self._started: float | None = None
        self._last_pts = -1
        self._origin: int | None = None  # the sender's RTP timestamp origin, known after its first frame
        self._sent: list[tuple[int, EncodedFrame]] = []  # (pts, frame) sent before the origin was known
        self._still_due = 0.0
        self.frames_sent = 0
        self.messages_sent = 0

    def request_keyframe(self) -> None:
        """The browser lost a picture: ask the broadcast for a keyframe."""
        subscription = self._subscription
        if subscription is not None:
            subscription.broadcast.request_keyframe()

    def _next(self) -> tuple[EncodedFrame, bool] | None:
        """(frame, whether it shows the pipeline's own picture), or None if none came within about
        PLACEHOLDER_PERIOD_S (the helper thread is never held longer, so the pool drains promptly at shutdown)."""
        if not self.viewer.page_open():
            time.sleep(PLACEHOLDER_PERIOD_S)  # the page is gone: send nothing
            return None
        pipeline = self.viewer.current_pipeline(PLACEHOLDER_PERIOD_S)
        subscription = self._subscription
        if subscription is not None and (pipeline is None or subscription.broadcast.pipeline is not pipeline):
            subscription.close()
            self._subscription = subscription = None
        if pipeline is None:
            return self._still()
        if subscription is None:
            self._subscription = subscription = self.broadcasts.for_pipeline(pipeline).subscribe()
        frame = subscription.next(PLACEHOLDER_PERIOD_S)
        return None if frame is None else (frame, frame.result_sequence is not None)

    def _still(self) -> tuple[EncodedFrame, bool] | None:
        now = time.monotonic()
        if not self.viewer.starting or now < self._still_due:
            return None
        self._still_due = now + PLACEHOLDER_PERIOD_S
        return self.broadcasts.still(STARTING_TEXT), False

    async def recv(self) -> av.Packet:
        loop = asyncio.get_running_loop()
        picked = None
        while picked is None:
            if self.readyState != "live":
                raise MediaStreamError
            picked = await loop.run_in_executor(self._waiters, self._next)
        frame, picture = picked
        now = time.monotonic()
        if self._started is None:
            self._started = now
        pts = max(int((now - self._started) * _RTP_CLOCK), self._last_pts + 1)
        self._send_overlay(frame, pts)
        self._last_pts = pts
        self.frames_sent += 1
        self.viewer.note_shown(picture=picture)
        packet = av.Packet(frame.data)
        packet.pts, packet.time_base = pts, VIDEO_TIME_BASE
        return packet

    def _send_overlay(self, frame: EncodedFrame, pts: int) -> None:
        """Send `frame`'s overlay keyed by the RTP timestamp its packets will carry. aiortc picks that timestamp's
        origin when it sends its first packet, so the first frame's overlay follows once the second is due."""
        if self._origin is None and self.sender is not None and self._last_pts >= 0:
            last = sent_rtp_timestamp(self.sender)
            if last:
                self._origin = (last - self._last_pts) % (1 << 32)
        self._sent.append((pts, frame))
        if self._origin is None:
            del self._sent[:-1]  # only the newest unsent overlay is worth sending late
            return
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            for sent_pts, sent in self._sent:
                channel.send(frame_message(sent, (self._origin + sent_pts) % (1 << 32)))
                self.messages_sent += 1
        self._sent.clear()

    def on_report(self, message: str | bytes) -> None:
        """A report from the browser: {"frames": shown so far, "t": its clock in ms}."""
        if not isinstance(message, str) or len(message) > MAX_REPORT_BYTES:
            return
        try:
            report = json.loads(message)
            frames, at = int(report["frames"]), float(report["t"])
        except (ValueError, KeyError, TypeError):
            return
        if frames >= 0:
            self.viewer.note_browser_frames(frames, at)

    def stop(self) -> None:
        super().stop()
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.close()


@dataclass
class _Peer:
    connection: RTCPeerConnection
    track: BroadcastTrack
    created: float = field(default_factory=time.monotonic)


class PeerServer:
    """The server side of every browser's video (see the module docstring): `answer` takes a browser's offer for
    a viewer and returns the SDP answer; peers close when the browser goes (or a newer offer replaces them).
    At most `max_peers` at once."""

    def __init__(self, broadcasts: Broadcasts, *, ice: list[dict], max_peers: int = MAX_PEERS) -> None:
        self.broadcasts = broadcasts
        self.ice = ice
        self.max_peers = max_peers
        self._peers: dict[str, _Peer] = {}
        self._lock = threading.Lock()
        self._waiters = ThreadPoolExecutor(max_workers=max_peers, thread_name_prefix="live video")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webrtc peers", daemon=True)
        self._thread.start()
        self.answered = 0

    def answer(self, peer_key: str, offer_sdp: str, viewer: Viewer) -> str:
        """The SDP answer to a browser's offer; the peer replaces any earlier one of `peer_key` (the same video
        element connecting again). UserError for an offer that is too large or not a WebRTC offer, or when
        `max_peers` browsers are connected."""
        if not isinstance(offer_sdp, str) or not offer_sdp.startswith("v=0") or len(offer_sdp) > MAX_OFFER_BYTES:
            raise UserError("the browser's video offer is not a WebRTC session description")
        with self._lock:
            if peer_key not in self._peers and len(self._peers) >= self.max_peers:
                raise UserError(f"at most {self.max_peers} live videos at once; close another page's video")
        future = asyncio.run_coroutine_threadsafe(self._answer(peer_key, offer_sdp, viewer), self._loop)
        try:
            return future.result(ANSWER_TIMEOUT_S)
        except TimeoutError:
            future.cancel()
            raise UserError(f"the video connection was not set up within {ANSWER_TIMEOUT_S:.0f} s") from None
        except ValueError as error:  # aiortc's word on an offer it cannot answer (no common codec, say)
            raise UserError(f"the browser's video offer cannot be answered: {error}") from None

    async def _answer(self, peer_key: str, offer_sdp: str, viewer: Viewer) -> str:
        await self._close(peer_key)
        connection = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(**server) for server in self.ice]))
        track = BroadcastTrack(viewer, self.broadcasts, self._waiters)
        transceiver = connection.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences([codec for codec in RTCRtpSender.getCapabilities("video").codecs
                                         if codec.mimeType in ("video/VP8", "video/rtx")])
        track.sender = transceiver.sender
        keyframe_requested = transceiver.sender._send_keyframe  # aiortc's picture-loss handler

        def on_picture_loss() -> None:
            keyframe_requested()
            track.request_keyframe()

        transceiver.sender._send_keyframe = on_picture_loss
        peer = _Peer(connection, track)

        @connection.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            track.channel = channel
            channel.on("message", track.on_report)

        @connection.on("connectionstatechange")
        async def on_state() -> None:
            if connection.connectionState in ("failed", "closed"):
                with self._lock:
                    if self._peers.get(peer_key) is peer:
                        del self._peers[peer_key]
                track.stop()
                await connection.close()

        with self._lock:
            self._peers[peer_key] = peer
        await connection.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await connection.setLocalDescription(await connection.createAnswer())
        self.answered += 1
        return connection.localDescription.sdp

    async def _close(self, peer_key: str) -> None:
        with self._lock:
            peer = self._peers.pop(peer_key, None)
        if peer is not None:
            peer.track.stop()
            await peer.connection.close()

    def close(self, peer_key: str) -> None:
        """Close the peer of `peer_key` (the page's video went away)."""
        asyncio.run_coroutine_threadsafe(self._close(peer_key), self._loop).result(ANSWER_TIMEOUT_S)

    def peers(self) -> int:
        with self._lock:
            return len(self._peers)

    def track(self, peer_key: str) -> BroadcastTrack | None:
        with self._lock:
            peer = self._peers.get(peer_key)
            return peer.track if peer is not None else None

    def shutdown(self) -> None:
        """Close every peer and stop the event loop."""
        with self._lock:
            keys = list(self._peers)
        for key in keys:
            self.close(key)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._waiters.shutdown(wait=False, cancel_futures=True)
