"""H.264/H.265 RTP payloads: packetizing, depacketizing, fragments, aggregation, loss and reordering."""
from __future__ import annotations

import random
import struct

import pytest

from core.stream.nal import H264, H265, join_annexb, split_annexb
from core.stream.payload import AccessUnitAssembler, CodecDetector, RtpPacketizer, parameter_set_codecs
from core.stream.rtp import RtpPacket

H265_VPS, H265_SPS, H265_PPS = b"\x40\x01vps", b"\x42\x01sps", b"\x44\x01pps"
H264_SPS, H264_PPS = b"\x67sps", b"\x68pps"


def _slice(nal_format, keyframe: bool, size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    body = bytes(rng.randrange(1, 256) for _ in range(size))
    if nal_format is H265:
        return bytes([(19 if keyframe else 1) << 1, 1]) + body
    return bytes([0x65 if keyframe else 0x41]) + body


def test_split_and_join_annexb() -> None:
    nals = [b"\x40\x01abc", b"\x42\x01\x00\x00\x03\x01", b"\x26\x01" + b"z" * 10]
    stream = b"\x00\x00\x01".join([b""] + nals) + b"\x00"
    assert split_annexb(stream) == nals
    assert split_annexb(join_annexb(nals)) == nals


@pytest.mark.parametrize("nal_format", [H264, H265], ids=["h264", "h265"])
def test_round_trip_with_fragments(nal_format) -> None:
    packetizer = RtpPacketizer(nal_format, mtu_payload=200, first_sequence=65530)
    assembler = AccessUnitAssembler(nal_format)
    frame = [_slice(nal_format, False, 1000, 1), _slice(nal_format, False, 50, 2)]
    packets = packetizer.packetize(frame, timestamp=3000)
    assert len(packets) > 6 and all(len(p.payload) <= 200 for p in packets)
    assert [p.marker for p in packets] == [False] * (len(packets) - 1) + [True]
    units = [u for p in packets for u in assembler.push(p, 1.0)]
    assert len(units) == 1
    assert units[0].nals == frame and units[0].complete and not units[0].keyframe


@pytest.mark.parametrize(("nal_format", "parameter_sets"), [(H264, [H264_SPS, H264_PPS]),
                                                            (H265, [H265_VPS, H265_SPS, H265_PPS])],
                         ids=["h264", "h265"])
def test_parameter_sets_repeated_before_every_keyframe(nal_format, parameter_sets) -> None:
    packetizer = RtpPacketizer(nal_format)
    assembler = AccessUnitAssembler(nal_format)
    keyframe = _slice(nal_format, True, 100, 3)
    first = packetizer.packetize(parameter_sets + [keyframe], 0)
    later_delta = packetizer.packetize([_slice(nal_format, False, 100, 4)], 3000)
    later_key = packetizer.packetize([keyframe], 6000)  # encoder sent no parameter sets this time
    units = [u for p in first + later_delta + later_key for u in assembler.push(p, 0.0)]
    assert units[0].nals == parameter_sets + [keyframe] and units[0].keyframe
    assert len(units[1].nals) == 1
    assert units[2].nals == parameter_sets + [keyframe] and units[2].keyframe


def test_reordering_inside_a_frame_costs_nothing_and_late_packets_are_counted() -> None:
    packetizer = RtpPacketizer(H265, mtu_payload=100)
    assembler = AccessUnitAssembler(H265)
    frame = [_slice(H265, False, 600, 5)]
    packets = packetizer.packetize(frame, 0)
    shuffled = packets[:-1]
    random.Random(0).shuffle(shuffled)
    units = [u for p in shuffled + packets[-1:] for u in assembler.push(p, 0.0)]
    assert units[0].nals == frame and units[0].complete
    assert assembler.push(packets[2], 0.1) == [] and assembler.late == 1


def test_lost_fragment_keeps_partial_nal_and_lost_marker_flushes_on_next_frame() -> None:
    packetizer = RtpPacketizer(H265, mtu_payload=100)
    assembler = AccessUnitAssembler(H265)
    frame = [_slice(H265, False, 600, 6)]
    packets = packetizer.packetize(frame, 0)
    damaged = packets[:3] + packets[4:-1]  # one middle fragment and the marker packet lost
    units = [u for p in damaged for u in assembler.push(p, 0.0)]
    assert units == []
    next_frame = packetizer.packetize([_slice(H265, False, 50, 7)], 3000)
    units = [u for p in next_frame for u in assembler.push(p, 0.1)]
    assert len(units) == 2
    partial = units[0]
    assert not partial.complete and len(partial.nals) == 1
    assert partial.nals[0][:2] == frame[0][:2] and len(partial.nals[0]) < len(frame[0])
    assert len(units[1].nals) == 1  # the lost marker packet could have been either frame's: not marked complete


def test_fragment_without_its_start_is_dropped() -> None:
    packetizer = RtpPacketizer(H264, mtu_payload=100)
    assembler = AccessUnitAssembler(H264)
    first = packetizer.packetize([_slice(H264, False, 40, 8)], 0)
    packets = packetizer.packetize([_slice(H264, False, 400, 9)], 3000)
    units = [u for p in first + packets[1:] for u in assembler.push(p, 0.0)]
    assert units[0].complete
    assert units[1].nals == [] and not units[1].complete


@pytest.mark.parametrize(("nal_format", "header"), [(H264, b"\x18"), (H265, b"\x60\x01")], ids=["h264", "h265"])
def test_aggregation_packets_are_unpacked_and_truncated_ones_counted(nal_format, header) -> None:
    nals = [H264_SPS, H264_PPS] if nal_format is H264 else [H265_VPS, H265_SPS, H265_PPS]
    body = b"".join(struct.pack("!H", len(n)) + n for n in nals)
    assembler = AccessUnitAssembler(nal_format)
    (unit,) = assembler.push(RtpPacket(96, True, 1, 0, 1, header + body), 0.0)
    assert unit.nals == nals
    (unit,) = assembler.push(RtpPacket(96, True, 2, 3000, 1, header + body[:-2]), 0.0)
    assert unit.nals == nals[:-1] and assembler.malformed == 1


def _encoded_payloads(codec: str, frames: int = 3) -> list[bytes]:
    """RTP payloads of a few demo frames encoded by the project's sender's encoder (real parameter sets)."""
    import av

    from core.stream.demo import draw_demo_frame
    from core.stream.nal import FORMATS
    from core.stream.rtp_sender import _encoder

    encoder = _encoder(codec, 160, 120, 30.0, 30)
    packetizer = RtpPacketizer(FORMATS[codec], mtu_payload=300)
    payloads = []
    for index in range(frames):
        frame = av.VideoFrame.from_ndarray(draw_demo_frame(index, 160, 120)[0], format="bgr24")
        for packet in encoder.encode(frame.reformat(format="yuv420p")):
            payloads += [p.payload for p in packetizer.packetize(split_annexb(bytes(packet)), index * 3000)]
    return payloads


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_parameter_sets_of_real_streams_name_their_codec(codec: str) -> None:
    found = [c for payload in _encoded_payloads(codec) for c in parameter_set_codecs(payload)]
    assert found and set(found) == {codec}


def test_parameter_sets_inside_aggregates_and_fragments() -> None:
    h265_sps, h264_sps = b"\x42\x01" + bytes(40), b"\x67\x64" + bytes(40)
    ap = bytes([48 << 1, 1]) + struct.pack("!H", 4) + b"\x40\x01ab" + struct.pack("!H", 42) + h265_sps
    stap_a = bytes([0x78]) + struct.pack("!H", 42) + h264_sps + struct.pack("!H", 3) + b"\x68\xce\x38"
    fu = bytes([49 << 1, 1, 0x80 | 33]) + h265_sps[2:]
    fu_a = bytes([0x7C, 0x80 | 7]) + h264_sps[1:]
    assert parameter_set_codecs(ap) == ["h265", "h265"]
    assert parameter_set_codecs(stap_a) == ["h264", "h264"]
    assert parameter_set_codecs(fu) == ["h265"] and parameter_set_codecs(fu_a) == ["h264"]
    assert parameter_set_codecs(bytes([49 << 1, 1, 33]) + h265_sps) == []  # not the first fragment
    # slices of either codec say nothing
    assert parameter_set_codecs(bytes([19 << 1, 1]) + bytes(50)) == []
    assert parameter_set_codecs(b"\x65\x88" + bytes(50)) == [] and parameter_set_codecs(b"\x41\x9a" + bytes(50)) == []


@pytest.mark.parametrize(("chosen", "sent"), [(None, "h265"), (None, "h264"), ("h264", "h265"), ("h265", "h264"),
                                              ("h265", "h265")])
def test_codec_detector_decides_and_corrects_a_wrong_choice(chosen, sent) -> None:
    detector = CodecDetector(chosen)
    changes = sum(detector.offer(payload) for payload in _encoded_payloads(sent, frames=2))
    assert detector.codec == sent
    assert changes == (0 if chosen == sent else 1)
    assert detector.corrections == (1 if chosen not in (None, sent) else 0)


def test_codec_detector_never_flip_flops() -> None:
    h265, h264 = _encoded_payloads("h265", frames=1), _encoded_payloads("h264", frames=1)
    detector = CodecDetector("h265")
    for payload in h265 + h264[:1] + h265 + h264:  # the other codec's parameter sets mixed into an H.265 stream
        detector.offer(payload)
    assert detector.codec == "h265" and detector.corrections == 0
    detector.restart()  # a new sender that sends H.264: corrected once, then it stays
    for payload in h264 + h264 + h265[:1] + h264:
        detector.offer(payload)
    assert detector.codec == "h264" and detector.corrections == 1
