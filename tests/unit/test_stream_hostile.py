"""A hostile RTP sender: bounded pending access units, choosing the sender to follow (injected clock), the address
allow-list, and the health figures a receiver reports while it waits for a keyframe."""
from __future__ import annotations

import numpy as np
import pytest

from core.config import load_settings
from core.errors import UserError
from core.stream.base import ThreadedSource
from core.stream.nal import H265
from core.stream.payload import AccessUnitAssembler, RtpPacketizer
from core.stream.rtp import CANDIDATE, FOLLOWED, HELD, REFUSED, RtpPacket, SenderAllowList, SenderSelector


def _fragment(sequence: int, timestamp: int, size: int = 1000, *, start: bool = False) -> RtpPacket:
    fu_header = (0x80 if start else 0) | 1
    return RtpPacket(96, False, sequence % 65536, timestamp, 7, bytes([49 << 1, 1, fu_header]) + b"\x11" * size)


def _held_bytes(assembler: AccessUnitAssembler) -> int:
    """Payload bytes the assembler holds for the unit it is gathering (its own state: nothing else reads it)."""
    return 0 if assembler._pending is None else assembler._pending.size


def test_a_never_finished_unit_is_dropped_at_the_packet_bound_and_counted() -> None:
    assembler = AccessUnitAssembler(H265, max_unit_bytes=10**9, max_unit_packets=100)
    for sequence in range(5000):
        assert assembler.push(_fragment(sequence, 3000, 10, start=sequence == 0), 0.0) == []
    assert assembler.oversize == 1
    assert _held_bytes(assembler) == 0  # the rest of its packets were ignored, not held
    follower = RtpPacketizer(H265, first_sequence=5000, ssrc=7).packetize([b"\x02\x01" + b"p" * 50], 6000)
    (unit,) = [u for p in follower for u in assembler.push(p, 0.1)]
    assert unit.nals == [b"\x02\x01" + b"p" * 50]  # the next unit is assembled as usual


def test_a_unit_over_the_byte_bound_is_dropped_and_duplicates_do_not_count_twice() -> None:
    assembler = AccessUnitAssembler(H265, max_unit_bytes=50_000, max_unit_packets=4096)
    for _ in range(200):  # the same sequence number over and over replaces, it does not accumulate
        assembler.push(_fragment(1, 0, 1000, start=True), 0.0)
    assert assembler.oversize == 0 and 0 < _held_bytes(assembler) < 2000
    for sequence in range(2, 60):
        assembler.push(_fragment(sequence, 0, 1000), 0.0)
    assert assembler.oversize == 1
    packetizer = RtpPacketizer(H265, mtu_payload=1000)
    frame = [bytes([19 << 1, 1]) + b"k" * 20_000]
    units = [u for p in packetizer.packetize(frame, 3000) for u in assembler.push(p, 0.1)]
    assert [u.nals for u in units] == [frame] and units[0].keyframe  # a unit within bounds still assembles


def _packet(ssrc: int, sequence: int, size: int = 1) -> RtpPacket:
    return RtpPacket(96, False, sequence, 0, ssrc, b"x" * size)


def test_senders_are_tried_apart_and_one_is_followed_only_once_pinned() -> None:
    made: list[object] = []
    selector = SenderSelector(lambda: made.append(object()) or made[-1])  # default takeover silence: 2 s
    camera, junk = (1, "10.0.0.5", 5000), (2, "10.0.0.66", 6000)
    assert selector.offer(_packet(1, 0), camera, 0.0) == (HELD, [], None)
    assert selector.offer(_packet(1, 1), camera, 0.0) == (HELD, [], None)
    role, packets, trial = selector.offer(_packet(1, 2), camera, 0.0)  # the third consecutive packet: a trial
    assert role == CANDIDATE and [p.sequence for p in packets] == [0, 1, 2] and trial is made[0]
    for sequence in range(3):  # junk with consecutive numbers of its own gets its own trial, never the camera's
        role, packets, junk_trial = selector.offer(_packet(2, sequence), junk, 0.1)
    assert role == CANDIDATE and junk_trial is made[1] and [p.sequence for p in packets] == [0, 1, 2]
    assert selector.offer(_packet(1, 3), camera, 0.2) == (CANDIDATE, [_packet(1, 3)], trial)
    assert selector.locked is None and selector.trials() == 2
    assert selector.pin(camera, 0.3) == 4  # its keyframe decoded: followed; it sent 4 packets while tried
    assert selector.offer(_packet(1, 4), camera, 0.4) == (FOLLOWED, [_packet(1, 4)], None)
    assert selector.offer(_packet(2, 3), junk, 0.5) == (REFUSED, [], None)
    assert selector.refused(1.5) == [{"sender": "10.0.0.66:6000", "ssrc": "00000002", "packets": 4,
                                      "reason": "another sender is followed", "seconds_ago": 1.0}]
    # the same SSRC from another address or port is another sender
    assert selector.offer(_packet(1, 5), (1, "10.0.0.5", 5001), 0.6)[0] == REFUSED
    assert selector.offer(_packet(1, 5), (1, "10.0.0.99", 5000), 0.6)[0] == REFUSED
    # refused while the followed sender was heard less than 2 s ago; tried again after that
    rival = (3, "10.0.0.7", 7000)
    assert [selector.offer(_packet(3, n), rival, now)[0] for n, now in enumerate((2.3, 2.41, 2.42, 2.43))] \
        == [REFUSED, HELD, HELD, CANDIDATE]  # the camera was last heard at 0.4
    assert selector.pin(rival, 2.5) == 3 and selector.locked == rival and selector.switches == 1
    assert selector.offer(_packet(1, 6), camera, 2.6)[0] == REFUSED  # the old one is now the stranger


def test_held_candidate_packets_are_bounded_in_count_bytes_and_candidates() -> None:
    selector = SenderSelector(object, confirm=10**6, max_held=64, max_held_bytes=100_000, max_candidates=8)
    for ssrc in range(100):
        for sequence in range(200):
            selector.offer(_packet(ssrc, sequence, 9000), (ssrc, f"10.0.{ssrc}.1", 5000), 0.0)
    held = selector.held()
    assert 0 < len(held) <= 8
    assert all(packets <= 64 and size <= 100_000 for packets, size in held)


def test_a_tried_sender_is_not_displaced_by_random_strangers_and_refusals_are_bounded() -> None:
    selector = SenderSelector(object, max_candidates=4, max_refused=8)
    camera = (7, "10.0.0.5", 5000)
    trial = [selector.offer(_packet(7, n), camera, 0.0) for n in range(3)][-1][2]
    for stranger in range(1000):  # random SSRCs, one packet each
        assert selector.offer(_packet(10_000 + stranger, 0), (10_000 + stranger, "10.0.0.66", 6000), 0.1)[0] == HELD
    assert selector.offer(_packet(7, 3), camera, 0.2) == (CANDIDATE, [_packet(7, 3)], trial)
    selector.pin(camera, 0.3)
    for address in range(50):
        assert selector.offer(_packet(1, 0), (1, f"10.1.0.{address}", 6000), 1.0 + address / 100)[0] == REFUSED
    shown = selector.refused(2.0)
    assert len(shown) == 8 and shown[0]["sender"] == "10.1.0.49:6000"  # the most recent first


def test_allow_list_parses_addresses_and_networks() -> None:
    allowed = SenderAllowList(" 192.168.1.20, 10.0.0.0/24,fd00::/8 ")
    assert allowed.allows("192.168.1.20") and allowed.allows("10.0.0.200") and allowed.allows("fd00::1")
    assert allowed.allows("::ffff:10.0.0.7")  # an IPv4 sender seen through a dual-stack socket
    assert not allowed.allows("192.168.1.21") and not allowed.allows("10.0.1.1") and not allowed.allows("bogus")
    assert SenderAllowList("").allows("203.0.113.9")
    from_settings = load_settings({"EDS_RTP_ALLOWED_SENDERS": " 127.0.0.1 "}).rtp_allowed_senders
    assert SenderAllowList(from_settings).networks[0].num_addresses == 1
    assert SenderAllowList(load_settings({}).rtp_allowed_senders).allows("198.51.100.1")
    with pytest.raises(UserError, match="EDS_RTP_ALLOWED_SENDERS"):
        SenderAllowList("10.0.0.0/33")


class _ManualSource(ThreadedSource):
    """A source driven by the test on its own thread, with an injected clock."""

    def __init__(self, clock: list[float]) -> None:
        super().__init__("manual:", clock=lambda: clock[0])

    def _produce(self) -> None:
        self._stopping.wait()


def test_health_separates_arrival_and_decoded_rates_and_times_the_first_frame() -> None:
    clock = [100.0]
    source = _ManualSource(clock)
    try:
        for index in range(30):  # 30 frames arrive at 10 fps, only the last 5 decode
            clock[0] = 100.0 + index / 10
            source._note_data(clock[0])
            source._note_frame_arrival(clock[0])
            if index >= 25:
                source._publish(np.zeros((4, 6, 3), np.uint8), pts=None, received=clock[0])
        health = source.health
        assert health.frames_arrived == 30 and health.frames_decoded == 5
        assert health.fps_arrival == pytest.approx(10.0) and health.fps_decoded == pytest.approx(10.0)
        assert health.first_frame_ms == pytest.approx(2500.0) and health.stream_seconds == pytest.approx(2.9)
        assert health.fps == health.fps_decoded and "fps_arrival" in health.snapshot()
        health.state = "waiting_keyframe"
        clock[0] += 1.0
        source._check_signal(clock[0])
        assert health.state == "no_signal" and health.fps_arrival == 0.0 and health.fps_decoded == 0.0
    finally:
        source.close()
