"""RTP packets, sequence-number accounting and sender pinning."""
from __future__ import annotations

import os

from core.stream.rtp import RtpPacket, SequenceTracker, SenderSelector, parse_rtp


def test_packet_round_trip_and_header_fields() -> None:
    packet = RtpPacket(96, True, 65535, 123456789, 0xDEADBEEF, b"\x40\x01payload")
    parsed = parse_rtp(packet.to_bytes())
    assert parsed == packet


def test_parse_skips_csrc_extension_and_padding() -> None:
    header = bytes([0x80 | 0x20 | 0x10 | 1, 96, 0, 7]) + (90000).to_bytes(4, "big") + (42).to_bytes(4, "big")
    csrc = b"\x00\x00\x00\x05"
    extension = b"\xbe\xde\x00\x01" + b"\x01\x02\x03\x04"
    datagram = header + csrc + extension + b"NALDATA" + b"\x00\x00\x03"
    parsed = parse_rtp(datagram)
    assert parsed is not None and parsed.payload == b"NALDATA" and parsed.sequence == 7 and parsed.ssrc == 42


def test_garbage_is_not_rtp() -> None:
    assert parse_rtp(b"") is None
    assert parse_rtp(b"\x00" * 40) is None  # version 0
    assert parse_rtp(bytes([0x80, 96]) + b"\x00" * 10) is None  # header only, no payload
    assert parse_rtp(bytes([0x8F, 96]) + b"\x00" * 20) is None  # 15 CSRCs announced, not there
    for _ in range(200):
        parse_rtp(os.urandom(64))  # never raises


def test_sequence_tracker_counts_loss_reordering_duplicates_and_wraps() -> None:
    tracker = SequenceTracker()
    for sequence in (65533, 65534, 65535, 0, 1):  # wraps without loss
        tracker.add(sequence)
    assert (tracker.lost, tracker.reordered) == (0, 0)
    assert tracker.add(4) == "gap"  # 2 and 3 missing
    assert tracker.lost == 2
    assert tracker.add(3) == "reordered"
    assert (tracker.lost, tracker.reordered) == (1, 1)
    assert tracker.add(3) == "duplicate"
    assert tracker.add(4) == "duplicate"
    assert tracker.duplicates == 2 and tracker.lost == 1
    assert tracker.add(40000) == "reset"
    assert tracker.resets == 1 and tracker.lost == 1
    assert tracker.add(40001) == "in_order"


def test_sender_selector_locks_after_consecutive_packets_and_ignores_garbage() -> None:
    selector = SenderSelector(confirm=3, takeover_silence=0.3)

    def packet(ssrc: int, sequence: int) -> RtpPacket:
        return RtpPacket(96, False, sequence, 0, ssrc, b"x")

    host = "10.0.0.5"
    assert selector.offer(packet(1, 10), host, 0.0) == []
    assert selector.offer(packet(1, 11), host, 0.01) == []
    released = selector.offer(packet(1, 12), host, 0.02)
    assert [p.sequence for p in released] == [10, 11, 12] and selector.locked == (1, host)
    # stray packets of other SSRCs while the sender is alive are not followed
    for number in range(10):
        assert selector.offer(packet(1000 + number, number), host, 0.03) == []
        assert selector.offer(packet(1, 13 + number), host, 0.03) != []
    # a restarted sender (new SSRC, consecutive numbers) takes over once the old one is silent
    assert selector.offer(packet(2, 500), host, 0.1) == []
    assert selector.offer(packet(2, 501), host, 0.2) == []
    assert selector.offer(packet(2, 502), host, 0.25) == []  # old sender seen at 0.03: not silent long enough
    assert [p.sequence for p in selector.offer(packet(2, 503), host, 0.4)] == [500, 501, 502, 503]
    assert selector.locked == (2, host) and selector.switches == 1
