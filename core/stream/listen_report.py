"""What arrives on each configured RTP port, as one row per stream, from the receiver's health.

The Streams page and `python -m core streams listen` show the same rows: sender address, SSRC, payload type,
codec, resolution, packets per second, loss and the age of the last packet, and a status; a port with nothing
arriving comes with the likely causes.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from core.errors import UserError
from core.stream.base import FrameSource
from core.stream.configured import StreamEntry, rtp_port
from core.stream.sources import open_source

ARRIVING_WITHIN_S = 1.0  # a packet younger than this: the stream is arriving


def nothing_arriving_causes(port: int) -> list[str]:
    """The usual reasons a sender's packets do not reach udp/`port`, most likely first."""
    return ["the sender's host= is not one of this server's addresses (it must name this machine as the sender "
            "reaches it)",
            f"a firewall on this machine or on the way drops UDP port {port}",
            f"the sender uses another port (its udpsink port= must be {port})"]


@dataclass(frozen=True)
class ArrivalRow:
    """One configured RTP stream's arrivals; `arriving` is False while nothing came for ARRIVING_WITHIN_S, and
    `listening` False when the port could not be opened (the status says why)."""

    name: str
    port: int
    arriving: bool
    status: str
    listening: bool = True
    sender: str | None = None
    ssrc: str | None = None  # 8 hex digits
    payload_type: int | None = None
    codec: str | None = None
    resolution: str | None = None  # "1280x720"
    packets_per_s: float | None = None
    packets: int = 0
    packets_lost: int = 0
    loss: str = "–"  # "3 (0.1 %)"
    last_packet_age_s: float | None = None
    last_packet: str = "never"

    def as_dict(self) -> dict:
        return asdict(self)


def _status(health: dict, arriving: bool, age: float | None) -> str:
    if not arriving:
        return "nothing arriving" if age is None else f"nothing for {age:.0f} s"
    if health.get("not_decoding"):  # the receiver's own words on why packets do not become pictures
        return f"arriving, not decoding: {health['not_decoding']}"
    return "arriving, decoding" if health.get("frames_decoded") else "arriving"


def arrival_row(name: str, port: int, health: dict) -> ArrivalRow:
    """The row of the stream `name` on udp/`port` from its RTP source's health snapshot (the keys RtpSource
    reports: sender, ssrc, payload_type, codec, width, height, packets_per_s, last_packet_age_s, packets,
    packets_lost, not_decoding, ...)."""
    age = health.get("last_packet_age_s")
    arriving = age is not None and age < ARRIVING_WITHIN_S
    packets, lost = health.get("packets", 0), health.get("packets_lost", 0)
    width, height = health.get("width"), health.get("height")
    ssrc = health.get("ssrc")
    return ArrivalRow(
        name=name, port=port, arriving=arriving, status=_status(health, arriving, age),
        sender=health.get("sender"), ssrc=None if ssrc is None else f"{ssrc:08x}",
        payload_type=health.get("payload_type"), codec=health.get("codec"),
        resolution=f"{width}x{height}" if width and height else None,
        packets_per_s=health.get("packets_per_s") if arriving else 0.0, packets=packets, packets_lost=lost,
        loss=f"{lost} ({100.0 * lost / (packets + lost):.1f} %)" if packets + lost else "–",
        last_packet_age_s=age, last_packet="never" if age is None else f"{age:.1f} s ago")


def failed_row(name: str, port: int, error: str) -> ArrivalRow:
    """The row of a stream whose port could not be opened (in use, over the pipeline cap)."""
    return ArrivalRow(name=name, port=port, arriving=False, status=f"cannot listen: {error}", listening=False)


def rtp_entries(entries: Sequence[StreamEntry]) -> list[tuple[StreamEntry, int]]:
    """The configured RTP streams with their UDP ports, in the file's order."""
    return [(entry, port) for entry in entries if (port := rtp_port(entry.uri)) is not None]


def listen(entries: Sequence[StreamEntry], seconds: float, *,
           open_frames: Callable[[str], FrameSource] = open_source) -> list[ArrivalRow]:
    """Open every configured RTP stream of `entries` for `seconds` (frames are read and dropped) and return their
    rows at the end; a port that cannot be opened is a row saying why."""
    sources: list[tuple[StreamEntry, int, FrameSource | None, str]] = []
    try:
        for entry, port in rtp_entries(entries):
            try:
                sources.append((entry, port, open_frames(entry.uri), ""))
            except UserError as error:
                sources.append((entry, port, None, str(error)))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _, _, source, _ in sources:
                if source is not None:
                    source.read(timeout=0)
            time.sleep(0.05)
        return [arrival_row(entry.name, port, source.health_snapshot()) if source is not None
                else failed_row(entry.name, port, error) for entry, port, source, error in sources]
    finally:
        for _, _, source, _ in sources:
            if source is not None:
                source.close()


def arrivals_text(rows: Sequence[ArrivalRow]) -> str:
    """The rows as an aligned text table, and the likely causes under each port with nothing arriving."""
    header = ("stream", "port", "status", "sender", "ssrc", "pt", "codec", "resolution", "pkt/s", "loss",
              "last packet")
    cells = [header] + [(row.name, f"udp/{row.port}", row.status, row.sender or "–", row.ssrc or "–",
                         "–" if row.payload_type is None else str(row.payload_type), row.codec or "–",
                         row.resolution or "–", "–" if row.packets_per_s is None else f"{row.packets_per_s:.0f}",
                         row.loss, row.last_packet) for row in rows]
    widths = [max(len(line[column]) for line in cells) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    for row in rows:
        if row.listening and not row.arriving:
            lines.append(f"Nothing arriving on udp/{row.port} ({row.name}). Likely causes:")
            lines += [f"  - {cause}" for cause in nothing_arriving_causes(row.port)]
    return "\n".join(lines)
