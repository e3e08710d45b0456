"""RTP (RFC 3550) packets, sequence-number accounting (lost, reordered, duplicate), choosing the one sender to follow
(the first whose keyframe decodes) and the allow-list of sender addresses."""
from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Generic, TypeVar

from core.config import parse_networks

RTP_VERSION = 2
HEADER = struct.Struct("!BBHII")
SEQUENCE_MODULO = 1 << 16
MAX_FORWARD_JUMP = 3000  # a larger jump is a new stream, not loss (RFC 3550 A.1 uses the same order of size)
MAX_LATE = 1000  # how far behind the newest a packet may still count as reordered
DEFAULT_TAKEOVER_SILENCE_S = 2.0  # how long the pinned sender must be silent before another may take over
ALLOWED_SENDERS_ENV = "EDS_RTP_ALLOWED_SENDERS"
Trial = TypeVar("Trial")


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


Sender = tuple[int, str, int]  # (SSRC, source IP address, source port)
FOLLOWED, CANDIDATE, HELD, REFUSED = "followed", "candidate", "held", "refused"
MAX_REFUSED_SHOWN = 8


@dataclass
class Candidate(Generic[Trial]):
    """A sender being tried: its consecutive packets `held` until `confirm` of them arrived, then its `trial` (the
    receiver's decoder for it, made at confirmation) gets every packet; `packets` counts all it sent."""

    last_heard: float
    held: list[RtpPacket] = field(default_factory=list)
    trial: Trial | None = None
    packets: int = 0


@dataclass
class RefusedSender:
    """A source address whose RTP is dropped, for the health panel: the newest SSRC seen from it, packets refused
    and why."""

    address: str
    port: int
    ssrc: int | None
    packets: int
    reason: str
    last_seen: float

    def as_dict(self, now: float) -> dict:
        return {"sender": f"{self.address}:{self.port}", "ssrc": None if self.ssrc is None else f"{self.ssrc:08x}",
                "packets": self.packets, "reason": self.reason, "seconds_ago": round(max(now - self.last_seen, 0), 1)}


@dataclass
class SenderSelector(Generic[Trial]):
    """Decides which sender a receiver follows, so that stray or hostile datagrams can never take a camera's place.

    A sender is an (SSRC, source address, source port). Nobody is followed until a sender proves it is a camera:
    its first `confirm` packets with consecutive sequence numbers are held (at most `max_held` packets and
    `max_held_bytes` bytes, so random datagrams never start anything), then `offer` hands them, and every later
    packet of it, to its own `trial` (made by `new_trial`: the receiver's decoder for that sender alone), and the
    receiver calls `pin` when a trial decodes a keyframe. The first to decode wins; packets of several senders are
    never mixed. At most `max_candidates` senders are tried at once: a new one replaces the one heard least
    recently, unconfirmed ones first.

    Once a sender is pinned every other is refused until the pinned one has been silent for `takeover_silence`
    seconds (a restarted camera); then candidates are tried again and the next to decode a keyframe is pinned.
    Refused senders are remembered by address (the `max_refused` most recent) for the health panel.
    """

    new_trial: Callable[[], Trial]
    confirm: int = 3
    takeover_silence: float = DEFAULT_TAKEOVER_SILENCE_S
    max_held: int = 64
    max_held_bytes: int = 512 * 1024
    max_candidates: int = 4
    max_refused: int = MAX_REFUSED_SHOWN
    locked: Sender | None = None
    switches: int = 0
    _last_locked_seen: float = float("-inf")
    _candidates: dict[Sender, Candidate[Trial]] = field(default_factory=dict)
    _refused: dict[tuple[str, int], RefusedSender] = field(default_factory=dict)

    def offer(self, packet: RtpPacket, sender: Sender, now: float) -> tuple[str, list[RtpPacket], Trial | None]:
        """(role, packets to process, trial): FOLLOWED with [packet] for the pinned sender; CANDIDATE with the
        packets for `trial` to decode (the held ones at confirmation); HELD or REFUSED with none."""
        if sender == self.locked:
            self._last_locked_seen = now
            return FOLLOWED, [packet], None
        if now - self._last_locked_seen < self.takeover_silence:
            self.refuse(sender[1], sender[2], sender[0], "another sender is followed", now)
            return REFUSED, [], None
        candidate = self._candidate(sender, now)
        candidate.packets += 1
        if candidate.trial is not None:
            return CANDIDATE, [packet], candidate.trial
        held = self._hold(candidate.held, packet)
        if len(held) < self.confirm:
            candidate.held = held
            return HELD, [], None
        candidate.held, candidate.trial = [], self.new_trial()
        return CANDIDATE, held, candidate.trial

    def pin(self, sender: Sender, now: float) -> int:
        """Follow `sender` (its trial decoded a keyframe); the others tried so far are refused. Returns how many
        packets the winner sent while it was tried."""
        if self.locked is not None:
            self.switches += 1
        winner = self._candidates.pop(sender, None)
        for (ssrc, address, port), loser in self._candidates.items():
            self.refuse(address, port, ssrc, "another sender's keyframe decoded first", now, loser.packets)
        self._candidates.clear()
        self._refused.pop((sender[1], sender[2]), None)
        self.locked, self._last_locked_seen = sender, now
        return winner.packets if winner is not None else 0

    def refuse(self, address: str, port: int, ssrc: int | None, reason: str, now: float, packets: int = 1) -> None:
        """Remember that `packets` from `address`:`port` were dropped, and why."""
        key = (address, port)
        entry = self._refused.get(key)
        if entry is None:
            if len(self._refused) >= self.max_refused:
                del self._refused[min(self._refused, key=lambda k: self._refused[k].last_seen)]
            entry = self._refused[key] = RefusedSender(address, port, ssrc, 0, reason, now)
        entry.packets += packets
        entry.ssrc, entry.reason, entry.last_seen = ssrc, reason, now

    # The two readers below may run on another thread than `offer`: each copies its table in one step (list() of a
    # dict view runs without giving up the GIL) before looking at it.

    def refused(self, now: float) -> list[dict]:
        """The refused senders, most recently heard first."""
        entries = sorted(list(self._refused.values()), key=lambda entry: -entry.last_seen)
        return [entry.as_dict(now) for entry in entries]

    def trials(self) -> int:
        """How many senders are being tried (their packets decoded apart) now."""
        return sum(candidate.trial is not None for candidate in list(self._candidates.values()))

    def held(self) -> list[tuple[int, int]]:
        """(packets, bytes) held for each candidate sender not yet confirmed."""
        return [(len(c.held), sum(len(p.payload) for p in c.held)) for c in self._candidates.values()
                if c.trial is None]

    def _candidate(self, sender: Sender, now: float) -> Candidate[Trial]:
        candidate = self._candidates.get(sender)
        if candidate is None:
            if len(self._candidates) >= self.max_candidates:
                del self._candidates[min(self._candidates, key=lambda key: (
                    self._candidates[key].trial is not None, self._candidates[key].last_heard))]
            candidate = self._candidates[sender] = Candidate(now)
        candidate.last_heard = now
        return candidate

    def _hold(self, held: list[RtpPacket], packet: RtpPacket) -> list[RtpPacket]:
        """`held` with `packet` added when it follows the last one (else a fresh run), bounded in count and bytes."""
        if held and (held[-1].sequence + 1) % SEQUENCE_MODULO == packet.sequence:
            held = [*held, packet][-self.max_held:]
        else:
            held = [packet]
        size = sum(len(item.payload) for item in held)
        while len(held) > 1 and size > self.max_held_bytes:
            size -= len(held.pop(0).payload)
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
