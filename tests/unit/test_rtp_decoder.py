"""A live decoder decodes on its own thread alone: FFmpeg starts no threads for it, so many cameras in one host cost
only their decoding."""
from __future__ import annotations

import os

import av

from core.stream.demo import draw_demo_frame
from core.stream.nal import FORMATS
from core.stream.rtp_decoder import open_decoder
from core.stream.rtp_sender import _encoder

DECODERS = 4


def _native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _keyframe(codec: str) -> bytes:
    encoder = _encoder(codec, 320, 240, 30.0, 30)
    frame = av.VideoFrame.from_ndarray(draw_demo_frame(0, 320, 240)[0], format="bgr24").reformat(format="yuv420p")
    packets = [bytes(packet) for packet in encoder.encode(frame)] + [bytes(packet) for packet in encoder.encode(None)]
    return packets[0]


def test_live_decoders_start_no_threads_of_their_own() -> None:
    keyframe = _keyframe("h265")
    before = _native_threads()
    decoders = [open_decoder(FORMATS["h265"], 640 * 480) for _ in range(DECODERS)]
    pictures = [decoder.decode(av.Packet(keyframe)) + decoder.decode(None) for decoder in decoders]
    grown = _native_threads() - before
    assert all(len(decoded) == 1 and decoded[0].width == 320 for decoded in pictures)
    assert grown < DECODERS, f"{grown} threads started for {DECODERS} decoders"  # slice threads: 2+ per decoder
