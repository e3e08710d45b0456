"""`rtp://BIND:PORT?codec=auto|h265|h264`: RTP/UDP receiver with our own depacketizer feeding an FFmpeg decoder (PyAV).

Chosen over letting FFmpeg demux an SDP description because it measured ~2 ms instead of ~35 ms from packet to
picture, needs no 0.7 s probing, follows a restarted sender (FFmpeg's RTP demuxer drops the new stream as "too
late"), and ignores RTP-looking garbage (it pins one sender: SSRC and source address). The decoder shows damaged
frames (`show_all`) rather than blanking until the next keyframe, and runs without frame threading (which adds ~3
frames of delay).

Against a hostile sender: only addresses on the allow-list (EDS_RTP_ALLOWED_SENDERS) are heard at all, another
sender takes over only after the pinned one has been silent for `takeover_silence` seconds, a pending access unit
is bounded in bytes and packets, and FFmpeg refuses to allocate a picture larger than `max_decoded_pixels` (checked
on the size the parameter sets declare, before any picture memory exists); each refusal is counted in the health.

The codec is read from the payload (`CodecDetector`): with no codec given the first parameter sets decide it, and a
codec given wrongly is corrected at the stream's first keyframe (counted as `codec_mismatch`), so a wrong choice
never silently shows nothing. When packets arrive but no picture has decoded for `NOT_DECODING_AFTER_S`, the health
says why as far as the receiver knows (`not_decoding`).
"""
from __future__ import annotations

import logging
import socket
import threading
import time

import av
from av.codec.context import Flags, Flags2

from core.errors import UserError
from core.stream.base import Clock, FpsMeter, SourceLimits, ThreadedSource
from core.stream.nal import FORMATS, NalFormat, join_annexb
from core.stream.payload import (CLOCK_RATE, MAX_UNIT_BYTES, MAX_UNIT_PACKETS, AccessUnit, AccessUnitAssembler,
                                 CodecDetector)
from core.stream.rtp import (ALLOWED_SENDERS_ENV, DEFAULT_TAKEOVER_SILENCE_S, SenderAllowList, SenderSelector,
                             SequenceTracker, parse_rtp)

logger = logging.getLogger(__name__)

RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
POLL_S = 0.2
NOT_DECODING_AFTER_S = 3.0  # packets arriving this long without a decoded picture: the health says why
ARRIVING_WITHIN_S = 1.0  # a packet this recent means packets are arriving


def open_decoder(nal_format: NalFormat, max_pixels: int) -> av.codec.context.CodecContext:
    decoder = av.CodecContext.create(nal_format.decoder, "r")
    decoder.options = {"max_pixels": str(max_pixels)}
    decoder.flags |= Flags.low_delay
    decoder.flags2 |= Flags2.show_all
    decoder.thread_type = "SLICE"
    return decoder


class RtpSource(ThreadedSource):
    """Receives one H.264/H.265 RTP stream on a UDP port; see the module docstring for why it works this way.

    `stream_format` None detects the codec from the payload. `limits` (the pixel and frame-rate caps) and
    `allowed_senders` come from whoever opens the source (the settings); the defaults hear any sender under the
    default caps.
    """

    def __init__(self, uri: str, host: str, port: int, stream_format: NalFormat | None, payload_type: int = 96, *,
                 no_signal_after: float = 0.5, takeover_silence: float = DEFAULT_TAKEOVER_SILENCE_S,
                 limits: SourceLimits = SourceLimits(), allowed_senders: SenderAllowList = SenderAllowList(),
                 max_unit_bytes: int = MAX_UNIT_BYTES, max_unit_packets: int = MAX_UNIT_PACKETS,
                 clock: Clock = time.monotonic) -> None:
        super().__init__(uri, limits=limits, no_signal_after=no_signal_after, clock=clock)
        self.format: NalFormat | None = None
        self.payload_type = payload_type
        self.max_decoded_pixels = limits.max_pixels
        self.allowed_senders = allowed_senders
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            self._socket.bind((host, port))
        except OSError as error:
            self._socket.close()
            raise UserError(f"cannot listen on UDP {host}:{port}: {error.strerror or error}") from None
        self._socket.settimeout(POLL_S)
        self.port = self._socket.getsockname()[1]
        self._sequence = SequenceTracker()
        self._selector = SenderSelector(takeover_silence=takeover_silence)
        self._codec = CodecDetector(None if stream_format is None else stream_format.name)
        self._max_unit = (max_unit_bytes, max_unit_packets)
        self._assembler: AccessUnitAssembler | None = None
        self._decoder: av.codec.context.CodecContext | None = None
        self._waiting_for_keyframe = True
        self._rate_lock = threading.Lock()
        self._packet_rate = FpsMeter()
        self._last_packet: float | None = None
        self._arriving_since = 0.0  # the first packet after a silence (or ever)
        self._sender_address: tuple[str, int] | None = None
        self._seen_payload_type: int | None = None
        self._declared_size = (0, 0)  # what the parameter sets declare, known to the decoder before any picture
        self._last_picture: float | None = None
        self._dropped_because: str | None = None  # why the newest data did not become a picture (not_decoding)
        if stream_format is not None:
            self._use_format(stream_format)
        self._start()

    def _produce(self) -> None:
        while not self._stopping.is_set():
            try:
                datagram, address = self._socket.recvfrom(65536)
            except TimeoutError:
                self._check_signal(self.clock())
                continue
            except OSError as error:
                if not self._stopping.is_set():
                    logger.warning("source %s: receive failed: %s", self.uri, error)
                    self._stopping.wait(POLL_S)
                continue
            self._on_datagram(datagram, address, self.clock())

    def _release(self) -> None:
        self._socket.close()

    def _on_datagram(self, datagram: bytes, address: tuple[str, int], now: float) -> None:
        health = self.health
        health.packets += 1
        health.bytes += len(datagram)
        with self._rate_lock:
            if self._last_packet is None or now - self._last_packet > ARRIVING_WITHIN_S:
                self._arriving_since = now
            self._packet_rate.tick(now)
            self._last_packet = now
        if not self.allowed_senders.allows(address[0]):
            health.refused_packets += 1
            self._dropped_because = f"packets come from {address[0]}, which {ALLOWED_SENDERS_ENV} does not allow"
            return
        packet = parse_rtp(datagram)
        if packet is not None:
            self._seen_payload_type = packet.payload_type
        if packet is None or packet.payload_type != self.payload_type:
            health.invalid_packets += 1
            self._dropped_because = ("the packets are not RTP" if packet is None else
                                     f"the packets carry RTP payload type {packet.payload_type}, this stream expects "
                                     f"{self.payload_type}")
            return
        followed = self._selector.locked
        accepted = self._selector.offer(packet, address[0], now)
        if not accepted:
            health.foreign_packets += 1
            self._dropped_because = "RTP from several senders at once: none is followed yet"
            return
        if self._selector.locked != followed:
            health.foreign_packets -= len(accepted) - 1  # the held packets counted as foreign on arrival
            self._follow_new_sender()
        self._sender_address = address
        self._note_data(now)
        for item in accepted:
            self._sequence.add(item.sequence)
            if self._codec.offer(item.payload):
                self._use_format(FORMATS[self._codec.codec])
            if self._assembler is None:
                self._note_undecided()
                continue
            for unit in self._assembler.push(item, now):
                self._decode(unit)
        health.packets_lost = self._sequence.lost
        health.packets_reordered = self._sequence.reordered
        health.packets_duplicate = self._sequence.duplicates
        if self._assembler is not None:
            health.packets_late = self._assembler.late
            health.units_dropped_oversize = self._assembler.oversize
            health.invalid_packets += self._assembler.malformed
            self._assembler.malformed = 0

    def _note_undecided(self) -> None:
        """Data of a stream whose codec is not known yet: it waits for parameter sets, which come with keyframes."""
        if self.health.state != "stopped":
            self.health.state = "waiting_keyframe"
        self._dropped_because = ("no parameter sets yet (H.264 SPS/PPS or H.265 VPS/SPS/PPS) to tell the codec: "
                                 "the sender must repeat them before every keyframe (config-interval=1)")

    def _use_format(self, nal_format: NalFormat) -> None:
        """Depacketize and decode `nal_format` from now on (a first decision, or a correction counted and logged)."""
        if self.format is not None and self.format is not nal_format:
            logger.warning("source %s: the stream is %s, not %s: decoding it as %s", self.uri, nal_format.name,
                           self.format.name, nal_format.name)
        self.format = nal_format
        if self._assembler is None:
            self._assembler = AccessUnitAssembler(nal_format, max_unit_bytes=self._max_unit[0],
                                                  max_unit_packets=self._max_unit[1])
        else:
            self._assembler.use_format(nal_format)  # the parameter sets that decided it are in the pending unit
        self._decoder = open_decoder(nal_format, self.max_decoded_pixels)
        self._waiting_for_keyframe = True

    def _follow_new_sender(self) -> None:
        """A (re)started sender: fresh sequence position, assembler and decoder; wait for its first keyframe (and,
        if it sends the other codec, for its parameter sets to say so)."""
        if self._selector.switches:
            self.health.sender_switches = self._selector.switches
            logger.info("source %s: following a new sender (SSRC %08x from %s)", self.uri, *self._selector.locked)
        self._sequence.restart()
        self._codec.restart()
        if self.format is not None:
            self._assembler.reset()
            self._decoder = open_decoder(self.format, self.max_decoded_pixels)
            self._waiting_for_keyframe = True

    def _decode(self, unit: AccessUnit) -> None:
        health = self.health
        self._note_frame_arrival(unit.first_arrival)
        if unit.keyframe:
            health.keyframes += 1
            self._waiting_for_keyframe = False
        elif self._waiting_for_keyframe:
            health.frames_skipped += 1
            if health.state != "stopped":
                health.state = "waiting_keyframe"
            self._dropped_because = (f"no keyframe yet ({health.frames_skipped} frames skipped): the sender's "
                                     "keyframe interval decides how long this takes")
            return
        if not unit.complete:
            health.incomplete_frames += 1
        if not unit.nals:
            return
        started = self.clock()
        try:
            frames = self._decoder.decode(av.Packet(join_annexb(unit.nals)))
            images = [frame.to_ndarray(format="bgr24") for frame in frames]
        except (av.error.FFmpegError, ValueError) as error:
            self._count_refusal(error)
            return
        finally:
            self._declared_size = (self._decoder.width, self._decoder.height)
        decode_ms = (self.clock() - started) * 1000.0
        receive_ms = (unit.last_arrival - unit.first_arrival) * 1000.0
        for image in images:
            self._publish(image, pts=unit.timestamp / CLOCK_RATE, received=unit.first_arrival,
                          timings={"receive": receive_ms, "decode": decode_ms})
            self._last_picture, self._dropped_because = self.clock(), None

    def _count_refusal(self, error: Exception) -> None:
        """A failed decode: a picture over the pixel cap (FFmpeg refused to allocate it) or a damaged stream."""
        declared = self._decoder.width * self._decoder.height
        if declared > self.max_decoded_pixels:
            self.health.frames_oversize += 1
            self._dropped_because = (f"the pictures ({self._decoder.width}x{self._decoder.height}) are larger than "
                                     "this server decodes (EDS_MAX_DECODED_PIXELS)")
            logger.debug("source %s: refused a %dx%d picture", self.uri, self._decoder.width, self._decoder.height)
        else:
            self.health.decode_errors += 1
            self._dropped_because = (f"the {self.format.name} decoder rejects the frames "
                                     f"({self.health.decode_errors} decode errors)")
            logger.debug("source %s: decode error: %s", self.uri, error)

    def health_snapshot(self) -> dict:
        """The counters plus what is arriving: `sender` ("ip:port"), `ssrc`, `payload_type` (of the newest RTP
        packet), `codec` (decided, or chosen while undecided), `codec_mismatch` (corrections of a wrong codec),
        `width`/`height` (decoded, or declared by the parameter sets; None before either), `packets_per_s`,
        `last_packet_age_s` (any datagram), and `not_decoding`: why nothing decodes while packets arrive, or None."""
        snapshot = super().health_snapshot()
        now = self.clock()
        with self._rate_lock:
            packets_per_s = self._packet_rate.rate(now)
            age = None if self._last_packet is None else now - self._last_packet
        locked, address, nal_format = self._selector.locked, self._sender_address, self.format
        width, height = (snapshot["width"], snapshot["height"]) if snapshot["width"] else self._declared_size
        snapshot.update(
            sender=None if address is None else f"{address[0]}:{address[1]}",
            ssrc=None if locked is None else locked[0], payload_type=self._seen_payload_type,
            codec=None if nal_format is None else nal_format.name, codec_mismatch=self._codec.corrections,
            width=width or None, height=height or None, packets_per_s=round(packets_per_s, 1),
            last_packet_age_s=None if age is None else round(age, 3), not_decoding=self._not_decoding(now, age))
        return snapshot

    def _not_decoding(self, now: float, packet_age: float | None) -> str | None:
        """Why no picture decoded for NOT_DECODING_AFTER_S although packets arrive (None when pictures come, or
        nothing arrives)."""
        if packet_age is None or packet_age > ARRIVING_WITHIN_S:
            return None
        with self._rate_lock:
            since = max(self._arriving_since, self._last_picture or 0.0)
        if now - since < NOT_DECODING_AFTER_S:
            return None
        return self._dropped_because or "the frames are still incomplete"
