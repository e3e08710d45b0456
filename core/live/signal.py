"""What a live source's signal is, in words: live, waiting, waiting for a keyframe, no signal, or packets that do not
decode, and for an RTP port where nothing arrives, the likely causes (those the Streams page lists). The Live page
and the wall's tiles say the same thing from one place."""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserError
from core.stream.configured import rtp_port
from core.stream.listen_report import arrival_row, nothing_arriving_causes


@dataclass(frozen=True)
class SignalStatus:
    """`level` is how to show it ("success", "info", "warning" or "error"); `port` and `causes` are set when
    nothing arrives on an RTP port (the causes most likely first)."""

    state: str
    level: str
    text: str
    port: int | None = None
    causes: tuple[str, ...] = ()

    @property
    def live(self) -> bool:
        return self.state == "live"

    def summary(self) -> str:
        """The status and, when nothing arrives, why, as a few lines of plain text (a wall tile's)."""
        if not self.causes:
            return self.text
        return "\n".join([f"{self.text.rstrip('.')}: nothing arriving on udp/{self.port}. Likely causes:",
                          *(f"• {cause}" for cause in self.causes)])


def _port(uri: str) -> int | None:
    try:
        return rtp_port(uri)
    except UserError:
        return None


def signal_status(uri: str, health: dict) -> SignalStatus:
    """The status of the source of `uri` from its health snapshot (`FrameSource.health_snapshot()`)."""
    state, seconds = health["state"], health.get("seconds_since_data")
    if health.get("not_decoding"):
        return SignalStatus("not_decoding", "warning", f"Packets arrive but nothing decodes: {health['not_decoding']}")
    if state == "live":
        return SignalStatus(state, "success", "Live")
    if state == "waiting":
        status = SignalStatus(state, "info", "Waiting for the stream...")
    elif state == "waiting_keyframe":
        return SignalStatus(state, "info", f"Waiting for a keyframe: the stream arrives, {health['frames_skipped']} "
                                           "frames skipped so far (the sender's keyframe interval decides how long "
                                           "this takes)")
    elif state == "no_signal":
        status = SignalStatus(state, "error", f"No signal: last frame {seconds or 0:.1f} s ago")
    else:
        return SignalStatus(state, "warning", f"Stream {state}")
    port = _port(uri)
    if port is not None and not arrival_row(uri, port, health).arriving:
        return SignalStatus(status.state, status.level, status.text, port, tuple(nothing_arriving_causes(port)))
    return status
