"""A hostile sender on 127.0.0.1 against a real RtpSource: over 100,000 malformed datagrams (random NAL types,
fragments without a start, aggregation packets whose lengths lie, a 64 MB access unit that never ends,
RTP-looking garbage, random SSRCs) must leave memory bounded, the attacker is never followed, and a real stream
sent afterwards still decodes. Also: a picture over the pixel cap is refused and counted, an address off the
allow-list is not heard, and junk sent first from one port does not keep the camera, sending from another, out."""
from __future__ import annotations

import itertools
import random
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import closing

import pytest
from stream_helpers import collect, send_demo_frames

from tests.polling import wait_for, wait_until

from core.stream.base import SourceLimits
from core.stream.nal import H264, H265
from core.stream.rtp import DEFAULT_TAKEOVER_SILENCE_S, RtpPacket, SenderAllowList
from core.stream.rtp_source import RtpSource
from core.stream.rtp_sender import RtpSender

FUZZ_PACKETS = 100_000
HUGE_UNIT_BYTES = 64 * 1024 * 1024  # held whole, it alone would exceed the growth limit
FRAGMENT_BYTES = 1400
BATCH = 200
RSS_GROWTH_LIMIT = 50 * 1024 * 1024


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


class _Attacker:
    """Makes hostile datagrams: a "pinned" SSRC with consecutive sequence numbers carrying malformed H.265
    payloads, mixed with strangers (random SSRCs), RTP-looking garbage and random bytes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ssrc = 0xBADC0DE
        self.sequence = 0
        self.timestamp = 0

    def _pinned(self, payload: bytes, *, marker: bool = False, timestamp: int | None = None) -> bytes:
        self.sequence = (self.sequence + 1) % 65536
        stamp = self.timestamp if timestamp is None else timestamp
        return RtpPacket(96, marker, self.sequence, stamp, self.ssrc, payload).to_bytes()

    def _payload(self) -> bytes:
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:  # any NAL type, random body
            return bytes([rng.randrange(64) << 1, 1]) + rng.randbytes(rng.randrange(0, 1400))
        if kind == 1:  # a fragment; most without their start
            fu_header = (0x80 if rng.random() < 0.2 else 0) | (0x40 if rng.random() < 0.2 else 0) | rng.randrange(64)
            return bytes([49 << 1, 1, fu_header]) + rng.randbytes(rng.randrange(0, 1400))
        if kind == 2:  # an aggregation packet whose sizes lie
            body = b"".join(struct.pack("!H", rng.randrange(65536)) + rng.randbytes(rng.randrange(0, 40))
                            for _ in range(rng.randrange(1, 6)))
            return bytes([48 << 1, 1]) + body
        return rng.randbytes(rng.randrange(0, 3))  # too short to hold a NAL header

    def _stranger(self) -> bytes:
        rng = self.rng
        kind = rng.randrange(3)
        if kind == 0:  # well-formed RTP from a random SSRC, sometimes with consecutive numbers of its own
            return RtpPacket(96, rng.random() < 0.5, rng.randrange(3), rng.getrandbits(32), rng.getrandbits(32),
                             rng.randbytes(rng.randrange(1, 1400))).to_bytes()
        if kind == 1:  # RTP-looking: version 2, random flags, CSRC counts and extension lengths that lie
            return bytes([0x80 | rng.randrange(64), rng.randrange(256)]) + rng.randbytes(rng.randrange(0, 200))
        return rng.randbytes(rng.randrange(0, 1500))

    def mixed(self, count: int) -> Iterator[bytes]:
        for _ in range(count):
            if self.rng.random() < 0.1:
                self.timestamp = (self.timestamp + 3000) % (1 << 32)
            if self.rng.random() < 0.55:
                yield self._pinned(self._payload(), marker=self.rng.random() < 0.1)
            else:
                yield self._stranger()

    def huge_unit(self) -> Iterator[bytes]:
        """One access unit of HUGE_UNIT_BYTES in fragments: a start, then middles, never an end nor a marker."""
        stamp = (self.timestamp + 1_000_000) % (1 << 32)
        body = self.rng.randbytes(FRAGMENT_BYTES)
        for index in range(HUGE_UNIT_BYTES // FRAGMENT_BYTES):
            fu_header = (0x80 if index == 0 else 0) | 19
            yield self._pinned(bytes([49 << 1, 1, fu_header]) + body, timestamp=stamp)


def _blast(source: RtpSource, datagrams: Iterable[bytes]) -> int:
    """Send datagrams in batches, waiting (bounded) for the receiver to take each batch so the kernel drops
    none; returns how many were sent."""
    sent = 0
    iterator = iter(datagrams)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        while batch := list(itertools.islice(iterator, BATCH)):
            target = source.health.packets + len(batch)
            for datagram in batch:
                out.sendto(datagram, ("127.0.0.1", source.port))
            sent += len(batch)
            wait_for(lambda: source.health.packets >= target, 2.0, interval=0.001)
    return sent


@pytest.mark.timeout(120)
def test_hostile_datagrams_leave_memory_bounded_and_a_real_stream_decodes_afterwards() -> None:
    started = time.monotonic()
    attacker = _Attacker(seed=11)
    with RtpSource("rtp://fuzz", "127.0.0.1", 0, H265, limits=SourceLimits(max_pixels=1280 * 720),
                   allowed_senders=SenderAllowList("")) as source:
        with closing(RtpSender("127.0.0.1", source.port)) as warm_up:
            send_demo_frames(warm_up, frames=30)  # warm-up: a real stream allocates the decoder's pictures
        assert collect(source, 2.0, until_silent=0.5).frames
        time.sleep(DEFAULT_TAKEOVER_SILENCE_S + 0.2)  # the real sender is gone: the attacker may now be tried
        _blast(source, attacker.mixed(10_000))  # warm-up of the attack itself (allocator pools, candidate table)
        before = _rss_bytes()
        fuzzed = _blast(source, attacker.mixed(FUZZ_PACKETS // 2))
        fuzzed += _blast(source, attacker.huge_unit())
        fuzzed += _blast(source, attacker.mixed(FUZZ_PACKETS // 2))
        growth = _rss_bytes() - before
        attacked = source.health_snapshot()
        time.sleep(DEFAULT_TAKEOVER_SILENCE_S + 0.2)
        with closing(RtpSender("127.0.0.1", source.port)) as sender:
            sent = send_demo_frames(sender, frames=60)
        last = collect(source, 1.0).frames
    health = source.health_snapshot()
    decoded_after = health["frames_decoded"] - attacked["frames_decoded"]
    print(f"{fuzzed} hostile datagrams, RSS growth {growth / 2**20:.1f} MB, "
          f"{time.monotonic() - started:.1f} s in all;",
          {k: attacked[k] for k in ("packets", "invalid_packets", "foreign_packets", "units_dropped_oversize",
                                    "decode_errors", "frames_arrived", "frames_decoded")},
          f"then {decoded_after} of {sent.frames} real frames decoded")
    assert fuzzed >= FUZZ_PACKETS + HUGE_UNIT_BYTES // FRAGMENT_BYTES
    assert attacked["packets"] >= 0.95 * (fuzzed + 10_000)  # the receiver really took them
    assert growth < RSS_GROWTH_LIMIT
    assert attacked["units_dropped_oversize"] >= 1
    assert attacked["invalid_packets"] > 1000 and attacked["foreign_packets"] > 1000
    # warm-up sender -> real sender after the silence; the attacker, whose "keyframes" never decode, is never followed
    assert health["sender_switches"] == 1
    assert any(entry["ssrc"] == f"{attacker.ssrc:08x}" for entry in health["refused_senders"])
    assert decoded_after >= sent.frames - 5 and last and last[-1].image.shape[:2] == (480, 640)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("nal_format", [H265, H264], ids=["h265", "h264"])
def test_a_picture_over_the_pixel_cap_is_refused_and_counted(nal_format) -> None:
    with RtpSource("rtp://capped", "127.0.0.1", 0, nal_format, limits=SourceLimits(max_pixels=320 * 240),
                   allowed_senders=SenderAllowList("")) as source:
        with closing(RtpSender("127.0.0.1", source.port, nal_format.name)) as sender:
            send_demo_frames(sender, frames=20, width=640, height=480)
            refused = collect(source, 1.0)
            send_demo_frames(sender, frames=20, width=320, height=240)
            allowed = collect(source, 1.0)
    health = source.health_snapshot()
    assert refused.frames == [] and health["frames_oversize"] >= 15
    assert health["frames_decoded"] >= 15 and (health["width"], health["height"]) == (320, 240)
    assert allowed.frames and allowed.frames[-1].image.shape[:2] == (240, 320)


@pytest.mark.timeout(60)
def test_an_address_off_the_allow_list_is_not_heard() -> None:
    with RtpSource("rtp://allow", "127.0.0.1", 0, H265, allowed_senders=SenderAllowList("10.0.0.0/8")) as source:
        with closing(RtpSender("127.0.0.1", source.port)) as sender:
            send_demo_frames(sender, frames=15)
        got = collect(source, 1.0)
    health = source.health_snapshot()
    assert got.frames == [] and health["refused_packets"] >= 15 and health["state"] == "stopped"
    assert health["invalid_packets"] == health["foreign_packets"] == 0


@pytest.mark.timeout(60)
def test_junk_sent_first_from_one_port_does_not_keep_the_camera_out() -> None:
    """The review's case: RTP-looking junk (one SSRC with consecutive sequence numbers and payload type 96 but never a
    decodable keyframe, mixed with strangers) arrives first from one port and goes on; a real H.265 stream then comes
    from another port.
    The camera is followed from its first keyframe and every frame after it decodes; the junk's port is named
    among the refused senders."""
    attacker = _Attacker(seed=5)
    stop = threading.Event()
    with RtpSource("rtp://junk-first", "127.0.0.1", 0, None, allowed_senders=SenderAllowList("")) as source, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as junk:
        junk.bind(("127.0.0.1", 0))
        junk_port = junk.getsockname()[1]

        def spray() -> None:
            for datagram in attacker.mixed(10**9):
                if stop.wait(0.0005):
                    return
                junk.sendto(datagram, ("127.0.0.1", source.port))

        sprayer = threading.Thread(target=spray, daemon=True)
        sprayer.start()
        try:
            wait_until(lambda: source.health_snapshot()["senders_tried"] >= 1 and source.health.foreign_packets > 300,
                       30, "the junk is being tried")
            assert source.health.frames_decoded == 0
            with closing(RtpSender("127.0.0.1", source.port)) as camera:
                sent = send_demo_frames(camera, frames=60)
            collect(source, 0.5)
        finally:
            stop.set()
            sprayer.join(timeout=5)
    health = source.health_snapshot()
    refused = {entry["sender"]: entry for entry in health["refused_senders"]}
    print("junk first:", {k: health[k] for k in ("frames_decoded", "foreign_packets", "decode_errors", "sender")},
          refused.get(f"127.0.0.1:{junk_port}"))
    assert health["ssrc"] == camera.ssrc and health["sender_switches"] == 0
    assert health["frames_decoded"] >= sent.frames - 5  # from the camera's first keyframe on
    junk_entry = refused[f"127.0.0.1:{junk_port}"]  # named by its port (its SSRC is the newest of the junk's)
    assert junk_entry["packets"] > 300 and junk_entry["reason"] == "another sender is followed"
