"""RTP (RFC 3550) packets, sequence-number accounting (lost, reordered, duplicate), pinning one sender and the
allow-list of sender addresses."""
from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address

from core.config import parse_networks

RTP_VERSION = 2
HEADER = struct.Struct("!BBHII")
SEQUENCE_MODULO = 1 << 16
MAX_FORWARD_JUMP = 3000  # a larger jump is a new stream, not loss (RFC 3550 A.1 uses the same order of size)
MAX_LATE = 1000  # how far behind the newest a packet may still count as reordered
DEFAULT_TAKEOVER_SILENCE_S = 2.0  # how long the pinned sender must be silent before another may take over
ALLOWED_SENDERS_ENV = "EDS_RTP_ALLOWED_SENDERS"


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes

    def to_bytes(self) -> bytes:
        header = HEADER.pack(RTP_VERSION << 6, (int(self.marker) << 7) | self.payload_type, self.sequence,
                             self.timestamp, self.ssrc)
        return header + self.payload


def parse_rtp(datagram: bytes) -> RtpPacket | None:
    """The packet in `datagram`, or None when it is not a well-formed RTP version 2 packet with a payload."""
    if len(datagram) <= HEADER.size:
        return None
    first, second, sequence, timestamp, ssrc = HEADER.unpack_from(datagram)
    if first >> 6 != RTP_VERSION:
        return None
    offset = HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 16-bit profile, 16-bit length in 32-bit words
        if len(datagram) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", datagram, offset + 2)[0]
    end = len(datagram)
    if first & 0x20:  # padding: the last byte says how many bytes to drop
        end -= datagram[-1]
    if end <= offset:
        return None
    return RtpPacket(second & 0x7F, bool(second & 0x80), sequence, timestamp, ssrc, datagram[offset:end])


@dataclass
class SequenceTracker:
    """Counts lost, reordered and duplicate packets of one RTP stream from its sequence numbers.

    A gap counts its packets as lost at once; a late packet that fills a gap moves one from lost to reordered.
    A jump of more than MAX_FORWARD_JUMP means the sender restarted: accounting continues from the new number.
    """

    received: int = 0
    lost: int = 0
    reordered: int = 0
    duplicates: int = 0
    resets: int = 0
    highest: int | None = None
    _missing: set[int] = field(default_factory=set)
    _missing_order: deque[int] = field(default_factory=deque)

    def add(self, sequence: int) -> str:
        """Account for one packet; returns "first", "in_order", "gap", "reordered", "duplicate" or "reset"."""
        self.received += 1
        if self.highest is None:
            self.highest = sequence
            return "first"
        delta = (sequence - self.highest) % SEQUENCE_MODULO
        if delta == 0:
            self.duplicates += 1
            return "duplicate"
        if delta <= MAX_FORWARD_JUMP:
            for skipped in range(1, delta):
                self._remember_missing((self.highest + skipped) % SEQUENCE_MODULO)
            self.lost += delta - 1
            self.highest = sequence
            return "in_order" if delta == 1 else "gap"
        if SEQUENCE_MODULO - delta <= MAX_LATE:
            if sequence in self._missing:
                self._missing.discard(sequence)
                self.lost -= 1
                self.reordered += 1
                return "reordered"
            self.duplicates += 1
            return "duplicate"
        self.resets += 1
        self.restart(sequence)
        return "reset"

    def restart(self, sequence: int | None = None) -> None:
        """Forget the current stream's position (new sender); totals are kept."""
        self.highest = sequence
        self._missing.clear()
        self._missing_order.clear()

    def _remember_missing(self, sequence: int) -> None:
        self._missing.add(sequence)
        self._missing_order.append(sequence)
        while len(self._missing_order) > MAX_LATE:
            self._missing.discard(self._missing_order.popleft())


Sender = tuple[int, str]  # (SSRC, source IP address)


@dataclass
class SenderSelector:
    """Decides which sender a receiver follows, so stray or hostile RTP-looking datagrams cannot hijack the stream.

    A sender is an (SSRC, source address) pair. The first one to deliver `confirm` packets with consecutive
    sequence numbers is pinned. Another takes over only after it too has done so and the pinned one has been silent
    for `takeover_silence` seconds (a restarted sender). A candidate's consecutive packets are held (at most
    `max_held` packets and `max_held_bytes` bytes, for at most `max_candidates` candidates) and handed back when it
    is pinned, so a keyframe's parameter sets at the start of a stream are not lost.
    """

    confirm: int = 3
    takeover_silence: float = DEFAULT_TAKEOVER_SILENCE_S
    max_held: int = 64
    max_held_bytes: int = 512 * 1024
    max_candidates: int = 8
    locked: Sender | None = None
    switches: int = 0
    _last_locked_seen: float = float("-inf")
    _candidates: dict[Sender, list[RtpPacket]] = field(default_factory=dict)

    def offer(self, packet: RtpPacket, address: str, now: float) -> list[RtpPacket]:
        """Packets to process now: [packet] for the pinned sender, the held ones on a switch, else []."""
        sender = (packet.ssrc, address)
        if sender == self.locked:
            self._last_locked_seen = now
            return [packet]
        held = self._hold(sender, packet)
        if len(held) >= self.confirm and now - self._last_locked_seen >= self.takeover_silence:
            if self.locked is not None:
                self.switches += 1
            self.locked = sender
            self._last_locked_seen = now
            self._candidates.clear()
            return held
        return []

    def held(self) -> list[tuple[int, int]]:
        """(packets, bytes) held for each candidate sender."""
        return [(len(held), sum(len(p.payload) for p in held)) for held in self._candidates.values()]

    def _hold(self, sender: Sender, packet: RtpPacket) -> list[RtpPacket]:
        held = self._candidates.get(sender)
        if held and (held[-1].sequence + 1) % SEQUENCE_MODULO == packet.sequence:
            held.append(packet)
        else:
            held = [packet]
            if sender not in self._candidates and len(self._candidates) >= self.max_candidates:
                self._candidates.clear()  # random garbage: keep the table small
        held = held[-self.max_held:]
        size = sum(len(item.payload) for item in held)
        while len(held) > 1 and size > self.max_held_bytes:
            size -= len(held.pop(0).payload)
        self._candidates[sender] = held
        return held


class SenderAllowList:
    """The source addresses that may send at all, from text such as "192.168.1.20, 10.0.0.0/24" (empty: any)."""

    def __init__(self, text: str = "") -> None:
        self.networks: tuple[IPv4Network | IPv6Network, ...] = parse_networks(text, ALLOWED_SENDERS_ENV)

    def allows(self, address: str) -> bool:
        if not self.networks:
            return True
        try:
            ip = ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)
