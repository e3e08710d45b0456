"""`rtsp://` cameras and servers through FFmpeg (PyAV): TCP or UDP transport, reconnecting with backoff.

Cameras reboot, servers restart, links drop: the source never gives up and never raises out of its thread. A
failed connection, a read that times out or a server that ends the session is followed by a wait (`backoff_initial`
seconds, doubling up to `backoff_max`; back to the start once a session has decoded a picture) and a new session.
The health says whether a session is open, how many sessions there were (`reconnects` counts those after the
first) and the last error, with the camera's credentials taken out, as everywhere the URI is shown. A camera whose
stream declares pictures over the pixel cap is refused (the session closed at once, `frames_oversize` counted, the
reason in `last_error`) and asked again after the backoff, in case it was reconfigured.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import av

from core.stream.base import Clock, SourceHealth, SourceLimits
from core.stream.container_source import DemuxedSource, oversize_reason
from core.stream.shown_uri import display_uri
from core.timing.retry import backoff_delay

logger = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 8.0
OPEN_TIMEOUT_S = 5.0  # connecting, describing and probing the stream
READ_TIMEOUT_S = 3.0  # a session with nothing to read for this long is over
_POLL_S = 0.25

Opener = Callable[..., av.container.InputContainer]


@dataclass
class RtspHealth(SourceHealth):
    """SourceHealth plus the RTSP session: `transport` ("tcp"/"udp"), `connected` (a session is open now),
    `sessions` (opened so far), `reconnects` (sessions opened after the first), `connect_failures` (attempts that
    did not open), `last_error` (without credentials) and `retry_in_s` (the wait before the next attempt)."""

    transport: str = "tcp"
    connected: bool = False
    sessions: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    last_error: str | None = None
    retry_in_s: float | None = None


class RtspSource(DemuxedSource):
    """Frames of an RTSP stream's first video track; see the module docstring.

    `uri` is what logs, thread names and pages show (no credentials, see `display_uri`), `url` what FFmpeg opens.
    Tests inject `open_container` (an `av.open`-like callable) and shorter timeouts.
    """

    def __init__(self, uri: str, url: str, *, transport: str = "tcp", open_timeout: float = OPEN_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S, backoff_initial: float = BACKOFF_INITIAL_S,
                 backoff_max: float = BACKOFF_MAX_S, no_signal_after: float = 0.5,
                 limits: SourceLimits = SourceLimits(), open_container: Opener = av.open,
                 clock: Clock = time.monotonic) -> None:
        super().__init__(display_uri(uri), limits=limits, no_signal_after=no_signal_after, clock=clock)
        self.health = RtspHealth(transport=transport)
        self._url = url
        self._open_container = open_container
        self._timeouts = (open_timeout, read_timeout)
        self._backoff = (backoff_initial, backoff_max)
        self._options = {"rtsp_transport": transport, "timeout": str(int(read_timeout * 1_000_000)),
                         "allowed_media_types": "video"}
        self._start()

    def _produce(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            decoded_before = self.health.frames_decoded
            error = self._session()
            if self._stopping.is_set():
                return
            failures = 1 if self.health.frames_decoded > decoded_before else failures + 1
            self._note_failure(error, backoff_delay(failures, first_s=self._backoff[0], max_s=self._backoff[1]))

    def _session(self) -> str:
        """Open one session and play it until it ends; the reason it ended (or did not open), credentials out."""
        try:
            container = self._open_container(self._url, options=self._options, timeout=self._timeouts)
        except (av.error.FFmpegError, OSError) as error:
            self.health.connect_failures += 1
            return self._describe(error)
        health = self.health
        health.sessions += 1
        health.reconnects = health.sessions - 1
        health.connected, health.retry_in_s = True, None
        if health.reconnects:
            logger.info("source %s: session %d opened", self.uri, health.sessions)
        try:
            if not container.streams.video:
                return "the stream has no video track"
            refused = oversize_reason(container, self.limits)
            if refused:
                health.frames_oversize += 1
                return f"the camera's {refused}"
            self._play(container, paced=False, live=True)
            return "the server ended the stream"
        except (av.error.FFmpegError, OSError, ValueError) as error:
            return self._describe(error)
        finally:
            health.connected = False
            container.close()

    def _describe(self, error: Exception) -> str:
        return str(error).replace(self._url, display_uri(self._url)) or type(error).__name__

    def _note_failure(self, reason: str, delay: float) -> None:
        """Record why the session ended and wait `delay` seconds (watching the silence, stopping promptly)."""
        self.health.last_error, self.health.retry_in_s = reason, round(delay, 3)
        logger.info("source %s: %s; trying again in %.1f s", self.uri, reason, delay)
        deadline = self.clock() + delay
        while not self._stopping.is_set():
            now = self.clock()
            self._check_signal(now)
            if now >= deadline:
                return
            self._stopping.wait(min(_POLL_S, deadline - now))
