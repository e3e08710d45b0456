"""H.264 / H.265 NAL units: Annex B splitting and joining, the per-codec facts the RTP payload formats need, and
telling the two codecs apart by their parameter sets."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

START_CODE = b"\x00\x00\x00\x01"
_START_CODE_PATTERN = re.compile(b"\x00\x00\x01")


@dataclass(frozen=True)
class NalFormat:
    """What differs between H.264 (RFC 6184) and H.265 (RFC 7798) for packetizing and decoding.

    `aggregation_type` is STAP-A / AP and `fragment_type` FU-A / FU; `keyframe_types` are the NAL types that start
    a decodable picture without earlier ones (IDR for H.264, all IRAP types for H.265).
    """

    name: str  # "h264" or "h265", as in URIs and the CLI
    encoding_name: str  # RTP/SDP encoding name
    decoder: str  # FFmpeg decoder
    encoder: str  # FFmpeg software encoder
    header_size: int
    aggregation_type: int
    fragment_type: int
    keyframe_types: frozenset[int]
    parameter_set_types: tuple[int, ...]  # in the order a keyframe repeats them (VPS, SPS, PPS)

    def nal_type(self, nal: bytes) -> int:
        if self.header_size == 1:
            return nal[0] & 0x1F
        return (nal[0] >> 1) & 0x3F

    def fragment_header(self, nal: bytes) -> bytes:
        """Payload header (+ FU indicator) that precedes the FU header in every fragment of `nal`."""
        if self.header_size == 1:
            return bytes([(nal[0] & 0xE0) | self.fragment_type])
        return bytes([(nal[0] & 0x81) | (self.fragment_type << 1), nal[1]])

    def rebuild_header(self, payload: bytes, nal_type: int) -> bytes:
        """The original NAL header of a fragmented unit, from the fragment's payload header and FU type."""
        if self.header_size == 1:
            return bytes([(payload[0] & 0xE0) | nal_type])
        return bytes([(payload[0] & 0x81) | (nal_type << 1), payload[1]])


H264 = NalFormat("h264", "H264", "h264", "libx264", 1, 24, 28, frozenset({5}), (7, 8))
H265 = NalFormat("h265", "H265", "hevc", "libx265", 2, 48, 49, frozenset(range(16, 22)), (32, 33, 34))
FORMATS: dict[str, NalFormat] = {H264.name: H264, H265.name: H265}


# profile_idc values of H.264 SPSs (A.2 and annexes G/H): the byte after an SPS header
H264_PROFILES = frozenset({44, 66, 77, 83, 86, 88, 100, 110, 118, 122, 128, 134, 135, 138, 139, 144, 244})
_H265_PARAMETER_SET_HEADERS = frozenset({32 << 1, 33 << 1, 34 << 1})  # VPS, SPS, PPS; layer 0 (first byte)


def parameter_set_codec(nal: bytes) -> str | None:
    """"h265" or "h264" when `nal` (from its header on, at least 2 bytes) is a parameter set only that codec makes.

    H.265 (two-byte header `F|type(6)|layer(6)|TID(3)`): a VPS, SPS or PPS (types 32-34) of layer 0 with temporal
    id 1, i.e. 0x40/0x42/0x44 then 0x01; read as H.264 those are types 0, 2 and 4, which H.264 senders do not make
    (0 is unspecified, 2 and 4 are extended-profile partitions). H.264 (`F|NRI(2)|type(5)`): an SPS (type 7,
    NRI > 0) whose next byte is a known profile_idc, or a PPS (type 8, NRI > 0) of pps_id 0 (next byte's top bit
    set); their first byte is odd or has no H.265 meaning a sender uses, and an H.265 NAL is followed by 0x01.
    Anything else could belong to either codec: None.
    """
    if len(nal) < 2 or nal[0] & 0x80:
        return None
    if nal[0] in _H265_PARAMETER_SET_HEADERS and nal[1] == 0x01:
        return "h265"
    if nal[0] & 0x60:
        nal_type = nal[0] & 0x1F
        if (nal_type == 7 and nal[1] in H264_PROFILES) or (nal_type == 8 and nal[1] & 0x80):
            return "h264"
    return None


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (3- or 4-byte start codes; trailing zero bytes dropped)."""
    starts = [match.end() for match in _START_CODE_PATTERN.finditer(data)]
    nals = []
    for position, start in enumerate(starts):
        end = starts[position + 1] - 3 if position + 1 < len(starts) else len(data)
        nal = data[start:end].rstrip(b"\x00")
        if nal:
            nals.append(nal)
    return nals


def join_annexb(nals: Iterable[bytes]) -> bytes:
    return b"".join(START_CODE + nal for nal in nals)
