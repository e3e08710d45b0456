"""RTP payload formats for H.264 (RFC 6184) and H.265 (RFC 7798): NAL units to packets and back.

Packetizing sends one NAL per packet, or fragments (FU-A / FU) when it exceeds the MTU, and repeats the parameter
sets before every keyframe (GStreamer's `config-interval=1`). Depacketizing gathers the packets of one access unit
(same RTP timestamp; the marker bit ends it), orders them by sequence number, so reordering inside a frame costs no
extra latency, and keeps a fragmented NAL with a hole (the decoder conceals the damage; dropping it blanks frames
until the next keyframe).

A hostile or broken sender cannot make the receiver hold unbounded memory: a pending access unit larger than
`max_unit_bytes` or `max_unit_packets` is dropped (counted in `oversize`) with the rest of its packets, and
fragments are only reassembled from a unit within those bounds.

Which of the two codecs a stream carries is read from its payloads (`CodecDetector`): the parameter sets a sender
repeats before every keyframe differ between H.264 and H.265 whatever packet structure carries them.
"""
from __future__ import annotations

import logging
import random
import struct
from dataclasses import dataclass, field

from core.stream.nal import NalFormat, parameter_set_codec
from core.stream.rtp import SEQUENCE_MODULO, RtpPacket

logger = logging.getLogger(__name__)

DEFAULT_MTU_PAYLOAD = 1400
CLOCK_RATE = 90_000
MAX_UNIT_BYTES = 4 * 1024 * 1024  # a 4K keyframe at a high bitrate is ~1-2 MB
MAX_UNIT_PACKETS = 4096


def _signed_distance(sequence: int, reference: int) -> int:
    return (sequence - reference + SEQUENCE_MODULO // 2) % SEQUENCE_MODULO - SEQUENCE_MODULO // 2


class RtpPacketizer:
    """Turns access units (lists of NAL units) into RTP packets of one stream (one SSRC, running sequence)."""

    def __init__(self, nal_format: NalFormat, payload_type: int = 96, *, mtu_payload: int = DEFAULT_MTU_PAYLOAD,
                 ssrc: int | None = None, first_sequence: int | None = None) -> None:
        self.format = nal_format
        self.payload_type = payload_type
        self.mtu_payload = mtu_payload
        self.ssrc = random.getrandbits(32) if ssrc is None else ssrc
        self.sequence = random.getrandbits(16) if first_sequence is None else first_sequence
        self._parameter_sets: dict[int, bytes] = {}

    def packetize(self, nals: list[bytes], timestamp: int) -> list[RtpPacket]:
        nals = self._with_parameter_sets([nal for nal in nals if nal])
        payloads = [payload for nal in nals for payload in self._payloads(nal)]
        packets = []
        for position, payload in enumerate(payloads):
            packets.append(RtpPacket(self.payload_type, position == len(payloads) - 1, self.sequence,
                                     timestamp % (1 << 32), self.ssrc, payload))
            self.sequence = (self.sequence + 1) % SEQUENCE_MODULO
        return packets

    def _with_parameter_sets(self, nals: list[bytes]) -> list[bytes]:
        types = [self.format.nal_type(nal) for nal in nals]
        for nal, nal_type in zip(nals, types):
            if nal_type in self.format.parameter_set_types:
                self._parameter_sets[nal_type] = nal
        if not any(t in self.format.keyframe_types for t in types):
            return nals
        missing = [self._parameter_sets[t] for t in self.format.parameter_set_types
                   if t not in types and t in self._parameter_sets]
        return missing + nals

    def _payloads(self, nal: bytes) -> list[bytes]:
        if len(nal) <= self.mtu_payload:
            return [nal]
        header_size = self.format.header_size
        prefix = self.format.fragment_header(nal)
        nal_type = self.format.nal_type(nal)
        body = nal[header_size:]
        chunk = self.mtu_payload - len(prefix) - 1
        pieces = [body[start:start + chunk] for start in range(0, len(body), chunk)]
        payloads = []
        for index, piece in enumerate(pieces):
            fu_header = nal_type | (0x80 if index == 0 else 0) | (0x40 if index == len(pieces) - 1 else 0)
            payloads.append(prefix + bytes([fu_header]) + piece)
        return payloads


@dataclass
class AccessUnit:
    """The NAL units of one picture, when its first packet arrived, and what went wrong while gathering it."""

    timestamp: int
    nals: list[bytes]
    first_arrival: float
    last_arrival: float
    complete: bool  # no sequence gap inside and the marker packet seen
    keyframe: bool
    bytes: int


@dataclass
class _Pending:
    timestamp: int
    first_arrival: float
    last_arrival: float = 0.0
    packets: dict[int, RtpPacket] = field(default_factory=dict)
    marker: bool = False
    size: int = 0  # payload bytes held

    def add(self, packet: RtpPacket) -> None:
        previous = self.packets.get(packet.sequence)
        self.size += len(packet.payload) - (len(previous.payload) if previous else 0)
        self.packets[packet.sequence] = packet


class AccessUnitAssembler:
    """Collects depacketized RTP payloads into access units; `push` returns the units it completed (0, 1 or 2)."""

    def __init__(self, nal_format: NalFormat, *, max_unit_bytes: int = MAX_UNIT_BYTES,
                 max_unit_packets: int = MAX_UNIT_PACKETS) -> None:
        self.max_unit_bytes, self.max_unit_packets = max_unit_bytes, max_unit_packets
        self.malformed = 0  # payloads that could not be parsed (unsupported type, truncated aggregation)
        self.late = 0  # packets of a unit that was already handed to the decoder
        self.oversize = 0  # units dropped for exceeding max_unit_bytes / max_unit_packets
        self._pending: _Pending | None = None
        self._dropped: int | None = None  # timestamp of the oversize unit whose remaining packets are ignored
        self._last_flushed: int | None = None
        self._last_sequence: int | None = None  # of the previous unit: a unit whose first packet is lost is incomplete
        self.use_format(nal_format)

    def use_format(self, nal_format: NalFormat) -> None:
        """Depacketize `nal_format` from now on, the unit being gathered included (its packets are kept as they
        came: the codec matters only when a unit is complete)."""
        self.format = nal_format
        self._fu_type_mask = 0x1F if nal_format.header_size == 1 else 0x3F

    def reset(self) -> None:
        self._pending = None
        self._dropped = None
        self._last_flushed = None
        self._last_sequence = None

    def push(self, packet: RtpPacket, arrival: float) -> list[AccessUnit]:
        done: list[AccessUnit] = []
        if packet.timestamp == self._last_flushed:
            self.late += 1
            return done
        if packet.timestamp == self._dropped:
            return done
        if self._pending is not None and self._pending.timestamp != packet.timestamp:
            done.append(self._flush())  # the marker packet of the previous unit was lost
        pending = self._pending
        if pending is None:
            pending = self._pending = _Pending(packet.timestamp, arrival)
        pending.add(packet)
        pending.last_arrival = arrival
        if pending.size > self.max_unit_bytes or len(pending.packets) > self.max_unit_packets:
            self._drop(pending)
        elif packet.marker:
            pending.marker = True
            done.append(self._flush())
        return done

    def _drop(self, pending: _Pending) -> None:
        """Forget an oversize unit and ignore the rest of its packets."""
        self._pending = None
        self._dropped = pending.timestamp
        self.oversize += 1
        logger.warning("dropped an access unit of over %d packets / %d bytes (timestamp %d)",
                       len(pending.packets), pending.size, pending.timestamp)

    def _flush(self) -> AccessUnit:
        pending, self._pending = self._pending, None
        assert pending is not None
        self._last_flushed = pending.timestamp
        reference = next(iter(pending.packets))  # the first to arrive; others sort by signed distance from it
        ordered = sorted(pending.packets, key=lambda sequence: _signed_distance(sequence, reference))
        span = (ordered[-1] - ordered[0]) % SEQUENCE_MODULO + 1
        follows = self._last_sequence is None or _signed_distance(ordered[0], self._last_sequence) == 1
        self._last_sequence = ordered[-1]
        nals = self._depacketize([pending.packets[s].payload for s in ordered])
        keyframe = any(self.format.nal_type(nal) in self.format.keyframe_types for nal in nals)
        return AccessUnit(pending.timestamp, nals, pending.first_arrival, pending.last_arrival,
                          pending.marker and follows and span == len(ordered), keyframe, pending.size)

    def _depacketize(self, payloads: list[bytes]) -> list[bytes]:
        nals: list[bytes] = []
        fragment: bytearray | None = None
        header_size = self.format.header_size
        for payload in payloads:
            if len(payload) <= header_size:
                self.malformed += 1
                continue
            nal_type = self.format.nal_type(payload)
            if nal_type == self.format.fragment_type:
                if len(payload) <= header_size + 1:
                    self.malformed += 1
                    continue
                fu_header = payload[header_size]
                data = payload[header_size + 1:]
                if fu_header & 0x80:  # a start; an unfinished earlier fragment is kept as it is
                    if fragment is not None:
                        nals.append(bytes(fragment))
                    fragment = bytearray(self.format.rebuild_header(payload, fu_header & self._fu_type_mask))
                elif fragment is None:
                    continue  # its start was lost: without the NAL header this piece is useless
                fragment += data
                if fu_header & 0x40:
                    nals.append(bytes(fragment))
                    fragment = None
                continue
            if fragment is not None:
                nals.append(bytes(fragment))
                fragment = None
            if nal_type == self.format.aggregation_type:
                nals.extend(self._unaggregate(payload[header_size:]))
            elif nal_type < self.format.aggregation_type:
                nals.append(payload)
            else:
                self.malformed += 1
        if fragment is not None:
            nals.append(bytes(fragment))
        return nals

    def _unaggregate(self, body: bytes) -> list[bytes]:
        nals, well_formed = _aggregated_nals(body)
        self.malformed += not well_formed
        return nals


def _aggregated_nals(body: bytes) -> tuple[list[bytes], bool]:
    """The NAL units of an STAP-A / AP body (16-bit size, NAL, ...) up to the first malformed entry, and whether
    there was none."""
    nals, offset = [], 0
    while offset + 2 <= len(body):
        (size,) = struct.unpack_from("!H", body, offset)
        offset += 2
        if size == 0 or offset + size > len(body):
            return nals, False
        nals.append(body[offset:offset + size])
        offset += size
    return nals, True


def parameter_set_codecs(payload: bytes) -> list[str]:
    """The codec ("h264"/"h265") of each parameter set one RTP payload carries, read without knowing the codec: a
    single NAL, the NALs of an H.265 AP (type 48, header 0x60 0x01) or H.264 STAP-A (type 24), or the start of an
    H.265 FU (type 49, 0x62 0x01) or H.264 FU-A (type 28). These headers do not overlap between the codecs (see
    `parameter_set_codec`)."""
    if len(payload) < 3 or payload[0] & 0x80:
        return []
    first, second = payload[0], payload[1]
    if first == 48 << 1 and second == 0x01:
        nals = _aggregated_nals(payload[2:])[0]
    elif first & 0x1F == 24:
        nals = _aggregated_nals(payload[1:])[0]
    elif first == 49 << 1 and second == 0x01 and len(payload) > 3 and payload[2] & 0x80:
        nals = [bytes([(first & 0x81) | ((payload[2] & 0x3F) << 1), second])]
    elif first & 0x1F == 28 and second & 0x80:
        nals = [bytes([(first & 0xE0) | (second & 0x1F)]) + payload[2:3]]
    else:
        nals = [payload]
    return [codec for nal in nals if (codec := parameter_set_codec(nal)) is not None]


class CodecDetector:
    """Decides whether an RTP stream is H.264 or H.265 from the parameter sets its payloads carry.

    Starts from `codec` (None: undecided until the first parameter set). A decided codec changes only when
    `confirm` parameter sets of the other codec have arrived and none of its own since it was decided (or since
    `restart`, a new sender): a wrong choice is corrected at the stream's first keyframe, while a stray packet can
    never flip a stream that shows its own parameter sets, so the decision does not flip-flop.
    """

    def __init__(self, codec: str | None = None, *, confirm: int = 2) -> None:
        self.codec = codec
        self.confirm = confirm
        self.corrections = 0  # a decided (or chosen) codec replaced by the other one
        self._seen = {"h264": 0, "h265": 0}

    def offer(self, payload: bytes) -> bool:
        """Account for one payload; True when it decided or changed `codec`."""
        found = parameter_set_codecs(payload)
        if not found:
            return False
        for codec in found:
            self._seen[codec] += 1
        if self.codec is None:
            self.codec = max(self._seen, key=self._seen.__getitem__)
            return True
        other = "h264" if self.codec == "h265" else "h265"
        if self._seen[self.codec] == 0 and self._seen[other] >= self.confirm:
            self.codec = other
            self.corrections += 1
            self.restart()
            return True
        return False

    def restart(self) -> None:
        """A new sender: only parameter sets from now on count against the decided codec."""
        self._seen = {"h264": 0, "h265": 0}
