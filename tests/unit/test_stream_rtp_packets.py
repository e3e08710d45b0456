"""RTP packets, sequence-number accounting, sender pinning, and the RTP receiver's health: what arrives, the codec
read from the payload, why packets do not decode."""
from __future__ import annotations

import os
import socket
import time

import pytest

from core.stream.demo import draw_demo_frame
from core.stream.nal import H264, H265
from core.stream.rtp import (CANDIDATE, FOLLOWED, HELD, REFUSED, RtpPacket, SenderAllowList, SenderSelector,
                             SequenceTracker, parse_rtp)
from core.stream.rtp_source import RtpSource
from core.stream.rtp_sender import RtpSender
from tests.polling import wait_for


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


def test_sender_selector_tries_after_consecutive_packets_and_ignores_garbage() -> None:
    selector = SenderSelector(lambda: "decoder", confirm=3, takeover_silence=0.3)

    def packet(ssrc: int, sequence: int) -> RtpPacket:
        return RtpPacket(96, False, sequence, 0, ssrc, b"x")

    host = "10.0.0.5"
    sender = (1, host, 5000)
    assert selector.offer(packet(1, 10), sender, 0.0) == (HELD, [], None)
    assert selector.offer(packet(1, 11), sender, 0.01) == (HELD, [], None)
    role, released, trial = selector.offer(packet(1, 12), sender, 0.02)
    assert role == CANDIDATE and [p.sequence for p in released] == [10, 11, 12] and trial == "decoder"
    assert selector.locked is None  # tried, not followed: that takes a decoded keyframe (pin)
    selector.pin(sender, 0.02)
    # stray packets of other SSRCs while the sender is alive are not followed
    for number in range(10):
        assert selector.offer(packet(1000 + number, number), (1000 + number, host, 5000), 0.03)[0] == REFUSED
        assert selector.offer(packet(1, 13 + number), sender, 0.03)[0] == FOLLOWED
    # a restarted sender (new SSRC and port, consecutive numbers) is tried once the old one is silent
    restarted = (2, host, 5002)
    assert [selector.offer(packet(2, 500 + n), restarted, now)[0] for n, now in enumerate((0.1, 0.2, 0.25))] \
        == [REFUSED] * 3  # old sender seen at 0.03: not silent long enough
    assert [selector.offer(packet(2, 503 + n), restarted, now)[0] for n, now in enumerate((0.4, 0.41, 0.42))] \
        == [HELD, HELD, CANDIDATE]
    selector.pin(restarted, 0.43)
    assert selector.locked == restarted and selector.switches == 1


# --- RtpSource health: what arrives, the codec read from the payload, why nothing decodes -----------------------

WAIT_S = 10.0


def _receiver(stream_format=None, clock=time.monotonic) -> RtpSource:
    return RtpSource("rtp://127.0.0.1:0", "127.0.0.1", 0, stream_format, allowed_senders=SenderAllowList(""),
                     clock=clock)


def _send_frames(sender: RtpSender, frames: int) -> None:
    for index in range(frames):
        sender.send(draw_demo_frame(index, 160, 120)[0])
        time.sleep(0.005)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("chosen", "sent"), [(None, "h265"), (None, "h264"), (H264, "h265"), (H265, "h264")],
                         ids=["auto-h265", "auto-h264", "h264-chosen-h265-sent", "h265-chosen-h264-sent"])
def test_health_reports_the_sender_and_the_codec_read_from_the_payload(chosen, sent) -> None:
    with _receiver(chosen) as source:
        sender = RtpSender("127.0.0.1", source.port, sent, key_interval=5)
        try:
            _send_frames(sender, 12)
            assert wait_for(lambda: source.health.frames_decoded >= 5, WAIT_S)
            health = source.health_snapshot()
        finally:
            sender.close()
    assert health["codec"] == sent and health["codec_mismatch"] == (0 if chosen is None else 1)
    assert health["sender"].startswith("127.0.0.1:") and health["ssrc"] == sender.ssrc
    assert health["payload_type"] == 96 and (health["width"], health["height"]) == (160, 120)
    assert health["packets_per_s"] > 0 and 0 <= health["last_packet_age_s"] < 10
    assert health["not_decoding"] is None and health["decode_errors"] == 0


def test_health_before_anything_arrives() -> None:
    with _receiver() as source:
        health = source.health_snapshot()
    assert {key: health[key] for key in ("sender", "ssrc", "payload_type", "codec", "width", "height",
                                         "last_packet_age_s", "not_decoding")} == dict.fromkeys(
        ("sender", "ssrc", "payload_type", "codec", "width", "height", "last_packet_age_s", "not_decoding"))
    assert health["packets_per_s"] == 0.0 and health["codec_mismatch"] == 0


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _not_decoding_after(source: RtpSource, clock: ManualClock, datagrams: list[bytes]) -> list[str | None]:
    """Send `datagrams` one per 0.5 s of `clock` (waiting until each is received); the `not_decoding` reason
    after each."""
    reasons = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            received = source.health.packets
            sock.sendto(datagram, ("127.0.0.1", source.port))
            assert wait_for(lambda: source.health.packets > received, WAIT_S)
            reasons.append(source.health_snapshot()["not_decoding"])
            clock.now += 0.5
    return reasons


def _slices(payload_type: int = 96, count: int = 9, header: bytes = bytes([1 << 1, 1])) -> list[bytes]:
    return [RtpPacket(payload_type, True, number, number * 3000, 7, header + bytes(30)).to_bytes()
            for number in range(count)]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("stream_format", "datagrams", "reason"), [
    (None, _slices(payload_type=100), "payload type 100, this stream expects 96"),
    (None, [b"hello, not RTP" * 3] * 9, "not RTP"),
    (None, _slices(), "no parameter sets yet"),
    (H265, _slices(), "no keyframe yet"),
], ids=["payload-type", "not-rtp", "no-parameter-sets", "no-keyframe"])
def test_packets_that_never_decode_are_explained_after_three_seconds(stream_format, datagrams, reason) -> None:
    clock = ManualClock()
    with _receiver(stream_format, clock) as source:
        reasons = _not_decoding_after(source, clock, datagrams)
    assert reasons[:6] == [None] * 6  # the first 2.5 s: not yet
    assert all(reason is not None and reason_part in reason for reason, reason_part in zip(reasons[7:], [reason] * 2))
