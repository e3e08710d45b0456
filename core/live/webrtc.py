"""WebRTC delivery of a viewer's frames: an aiortc video track fed by a `Viewer`, and the RTC settings.

The track is receive-only from the browser's side: the server sends, the browser only plays. Waiting for the next
pipeline result and drawing happen on a pool of helper threads, never on the event loop (which aiortc also uses to
encode for every peer). Settings (`core.config.Settings`, from the environment):

- `EDS_ICE_SERVERS`: ICE servers for browsers outside the LAN, as JSON (`[{"urls": ["stun:host:3478"]}]`) or a
  comma-separated list of URLs; empty by default, so a LAN install never contacts a STUN/TURN server.
- `EDS_WEBRTC_HOST_ADDRESSES`: comma-separated addresses to offer as host candidates instead of every interface's
  (to pin the LAN interface, or 127.0.0.1 for a browser on the same machine, which aioice leaves out).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from core.errors import UserError
from core.live.viewer import Cursor, Viewer

logger = logging.getLogger(__name__)

VIDEO_CLOCK_RATE = 90_000
PLACEHOLDER_PERIOD_S = 0.5  # while there is no signal, the placeholder picture is resent this often
_waiters = ThreadPoolExecutor(max_workers=32, thread_name_prefix="live webrtc")


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


def rtc_configuration(ice_servers_setting: str) -> dict:
    """The RTCConfiguration for both peers; always has `iceServers`, so nothing public is fetched by default."""
    return {"iceServers": ice_servers(ice_servers_setting)}


def pin_host_addresses(setting: str) -> list[str]:
    """Apply the EDS_WEBRTC_HOST_ADDRESSES setting (if not empty) to aioice's host-candidate gathering; returns the
    addresses."""
    addresses = [part.strip() for part in setting.split(",") if part.strip()]
    if addresses:
        import aioice.ice

        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
            a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]
    return addresses


class ViewerVideoTrack(MediaStreamTrack):
    """Sends what one `Viewer` sees: each new pipeline result drawn with the viewer's filter, or a "starting" or
    "no signal" picture twice a second while there is none. Follows the viewer when it switches source (from the
    new source's first result, see `Cursor`)."""

    kind = "video"

    def __init__(self, viewer: Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self._cursor = Cursor()
        self._started: float | None = None
        self._last_pts = -1

    def _next(self) -> av.VideoFrame | None:
        """The next frame to send, or None if none came within about PLACEHOLDER_PERIOD_S (the helper thread is
        never held longer, so the pool drains promptly at shutdown)."""
        if not self.viewer.page_open():
            time.sleep(PLACEHOLDER_PERIOD_S)  # the page is gone: send nothing
            return None
        image, self._cursor = self.viewer.next_image(self._cursor, PLACEHOLDER_PERIOD_S)
        if image is None:
            return None
        self.viewer.note_shown()
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")

    async def recv(self) -> av.VideoFrame:
        loop = asyncio.get_running_loop()
        frame = None
        while frame is None:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await loop.run_in_executor(_waiters, self._next)
        now = time.monotonic()
        if self._started is None:
            self._started = now
        pts = max(int((now - self._started) * VIDEO_CLOCK_RATE), self._last_pts + 1)
        self._last_pts = pts
        frame.pts, frame.time_base = pts, Fraction(1, VIDEO_CLOCK_RATE)
        return frame
