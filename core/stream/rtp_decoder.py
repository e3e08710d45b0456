"""One RTP sender's packets to pictures: the codec read from its parameter sets (`CodecDetector`), access units
gathered (`AccessUnitAssembler`), decoding started at a keyframe, FFmpeg refusing a picture over the pixel cap.

The receiver keeps one for the sender it follows and one for each sender it is trying (see `core.stream.rtp`'s
`SenderSelector`). A decoder on `trial` passes every unit by except keyframes, and stays waiting until a keyframe
actually decodes: the first sender whose keyframe does is followed, its decoder kept as it is, so the pictures after
that keyframe decode at once. What the decoder met is returned per access unit (`UnitResult`) and in counters the
receiver collects (`take_counts`), so the receiver keeps the health figures in one place.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import av
import numpy as np
from av.codec.context import Flags, Flags2

from core.stream.base import LIVE_DECODE_THREADS, Clock
from core.stream.nal import FORMATS, NalFormat, join_annexb
from core.stream.payload import MAX_UNIT_BYTES, MAX_UNIT_PACKETS, AccessUnit, AccessUnitAssembler, CodecDetector
from core.stream.rtp import RtpPacket

logger = logging.getLogger(__name__)

DECODED, SKIPPED, EMPTY, OVERSIZE, FAILED = "decoded", "skipped", "empty", "oversize", "failed"


def open_decoder(nal_format: NalFormat, max_pixels: int) -> av.codec.context.CodecContext:
    decoder = av.CodecContext.create(nal_format.decoder, "r")
    decoder.options = {"max_pixels": str(max_pixels)}
    decoder.flags |= Flags.low_delay
    decoder.flags2 |= Flags2.show_all
    decoder.thread_count = LIVE_DECODE_THREADS
    return decoder


@dataclass
class UnitResult:
    """What became of one access unit: DECODED (with its `images`; none for a unit the decoder holds), SKIPPED
    (waiting for a keyframe), EMPTY (no NAL unit survived), OVERSIZE (over the pixel cap) or FAILED (the decoder
    rejected it: `error`)."""

    unit: AccessUnit
    outcome: str
    images: list[np.ndarray] = field(default_factory=list)
    decode_ms: float = 0.0
    error: str = ""


class RtpDecoder:
    """Decodes the packets of one sender; see the module docstring. `stream_format` None waits for parameter sets
    to tell the codec."""

    def __init__(self, stream_format: NalFormat | None, *, max_pixels: int, trial: bool = False,
                 max_unit_bytes: int = MAX_UNIT_BYTES, max_unit_packets: int = MAX_UNIT_PACKETS,
                 clock: Clock = time.monotonic) -> None:
        self.trial = trial
        self.max_pixels = max_pixels
        self.clock = clock
        self.codec = CodecDetector(None if stream_format is None else stream_format.name)
        self.format: NalFormat | None = None
        self.declared_size = (0, 0)  # what the parameter sets declare, known to the decoder before any picture
        self._max_unit = (max_unit_bytes, max_unit_packets)
        self._assembler: AccessUnitAssembler | None = None
        self._decoder: av.codec.context.CodecContext | None = None
        self._waiting_for_keyframe = True
        self._counted = (0, 0)  # late and oversize of the assembler already taken
        if stream_format is not None:
            self._use_format(stream_format)

    @property
    def undecided(self) -> bool:
        """True while the codec is not known (no parameter sets yet, none given)."""
        return self._assembler is None

    def push(self, packet: RtpPacket, now: float) -> list[UnitResult]:
        """Account for one packet; the access units it completed, each with what became of it."""
        if self.codec.offer(packet.payload):
            self._use_format(FORMATS[self.codec.codec])
        if self._assembler is None:
            return []
        return [self._decode(unit) for unit in self._assembler.push(packet, now)]

    def take_counts(self) -> tuple[int, int, int]:
        """(late packets, oversize units dropped, malformed payloads) since the last call."""
        if self._assembler is None:
            return 0, 0, 0
        late, oversize = self._assembler.late, self._assembler.oversize
        malformed, self._assembler.malformed = self._assembler.malformed, 0
        counts = (late - self._counted[0], oversize - self._counted[1], malformed)
        self._counted = (late, oversize)
        return counts

    def _use_format(self, nal_format: NalFormat) -> None:
        """Depacketize and decode `nal_format` from now on (a first decision, or a correction, logged)."""
        if self.format is not None and self.format is not nal_format:
            logger.warning("the stream is %s, not %s: decoding it as %s", nal_format.name, self.format.name,
                           nal_format.name)
        self.format = nal_format
        if self._assembler is None:
            self._assembler = AccessUnitAssembler(nal_format, max_unit_bytes=self._max_unit[0],
                                                  max_unit_packets=self._max_unit[1])
        else:
            self._assembler.use_format(nal_format)  # the parameter sets that decided it are in the pending unit
        self._decoder = open_decoder(nal_format, self.max_pixels)
        self._waiting_for_keyframe = True

    def _decode(self, unit: AccessUnit) -> UnitResult:
        if unit.keyframe and not self.trial:
            self._waiting_for_keyframe = False
        elif self._waiting_for_keyframe and not unit.keyframe:
            width, height = self.declared_size  # a stream refused for its size is not waiting for a keyframe
            return UnitResult(unit, OVERSIZE if width * height > self.max_pixels else SKIPPED)
        if not unit.nals:
            return UnitResult(unit, EMPTY)
        started = self.clock()
        try:
            frames = self._decoder.decode(av.Packet(join_annexb(unit.nals)))
            images = [frame.to_ndarray(format="bgr24") for frame in frames]
        except (av.error.FFmpegError, ValueError) as error:
            declared = self._decoder.width * self._decoder.height
            return UnitResult(unit, OVERSIZE if declared > self.max_pixels else FAILED, error=str(error))
        finally:
            self.declared_size = (self._decoder.width, self._decoder.height)
        if images:
            self._waiting_for_keyframe = False
        return UnitResult(unit, DECODED, images, (self.clock() - started) * 1000.0)
