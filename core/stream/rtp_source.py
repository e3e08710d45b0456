"""`rtp://BIND:PORT?codec=auto|h265|h264`: RTP/UDP receiver with our own depacketizer feeding an FFmpeg decoder (PyAV).

Chosen over letting FFmpeg demux an SDP description because it measured ~2 ms instead of ~35 ms from packet to
picture, needs no 0.7 s probing, follows a restarted sender (FFmpeg's RTP demuxer drops the new stream as "too
late"), and ignores RTP-looking garbage (it follows one sender: SSRC, address and port). The decoder shows damaged
frames (`show_all`) rather than blanking until the next keyframe, and runs without frame threading (which adds ~3
frames of delay).

Against a hostile sender: only addresses on the allow-list (EDS_RTP_ALLOWED_SENDERS) are heard at all; a sender is
followed only once one of its keyframes decodes, its packets decoded apart from every other sender's until then
(`SenderSelector`), so junk sent first never takes a camera's place; another sender takes over only after the
followed one has been silent for `takeover_silence` seconds; a pending access unit is bounded in bytes and packets,
and FFmpeg refuses to allocate a picture larger than the pixel cap (checked on the size the parameter sets declare,
before any picture memory exists). Each refusal is counted in the health, and the refused senders are named.

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

from core.errors import UserError
from core.stream.base import Clock, FpsMeter, SourceLimits, ThreadedSource
from core.stream.nal import NalFormat
from core.stream.payload import CLOCK_RATE, MAX_UNIT_BYTES, MAX_UNIT_PACKETS
from core.stream.rtp import (ALLOWED_SENDERS_ENV, CANDIDATE, DEFAULT_TAKEOVER_SILENCE_S, FOLLOWED, REFUSED,
                             RtpPacket, Sender, SenderAllowList, SenderSelector, SequenceTracker, parse_rtp)
from core.stream.rtp_decoder import DECODED, FAILED, OVERSIZE, SKIPPED, RtpDecoder, UnitResult

logger = logging.getLogger(__name__)

RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
POLL_S = 0.2
NOT_DECODING_AFTER_S = 3.0  # packets arriving this long without a decoded picture: the health says why
ARRIVING_WITHIN_S = 1.0  # a packet this recent means packets are arriving


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
        self.payload_type = payload_type
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

        def new_decoder(trial: bool = True) -> RtpDecoder:
            return RtpDecoder(stream_format, max_pixels=limits.max_pixels, trial=trial,
                              max_unit_bytes=max_unit_bytes, max_unit_packets=max_unit_packets, clock=clock)

        self._selector: SenderSelector[RtpDecoder] = SenderSelector(new_decoder, takeover_silence=takeover_silence)
        self._followed: RtpDecoder | None = None  # the decoder of the pinned sender
        self._latest_decoder = new_decoder(trial=False)  # the one that saw the newest data (codec, declared size)
        self._rate_lock = threading.Lock()
        self._packet_rate = FpsMeter()
        self._last_packet: float | None = None
        self._arriving_since = 0.0  # the first packet after a silence (or ever)
        self._sender_address: tuple[str, int] | None = None
        self._seen_payload_type: int | None = None
        self._last_picture: float | None = None
        self._dropped_because: str | None = None  # why the newest data did not become a picture (not_decoding)
        self._start()

    @property
    def format(self) -> NalFormat | None:
        """The codec decided for the stream (None while undecided)."""
        return self._latest_decoder.format

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
            self._selector.refuse(address[0], address[1], None, f"not allowed by {ALLOWED_SENDERS_ENV}", now)
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
        sender = (packet.ssrc, address[0], address[1])
        role, packets, trial = self._selector.offer(packet, sender, now)
        if role == FOLLOWED:
            self._note_data(now)
            self._sequence.add(packet.sequence)
            self._take(self._followed, packets, now, publish=True)
            health.packets_lost = self._sequence.lost
            health.packets_reordered = self._sequence.reordered
            health.packets_duplicate = self._sequence.duplicates
        elif role == CANDIDATE:
            health.foreign_packets += 1
            self._note_data(now)
            self._try(sender, trial, packets, now)
        else:
            health.foreign_packets += 1
            self._dropped_because = (f"RTP from {address[0]}:{address[1]} is refused while another sender is "
                                     "followed" if role == REFUSED else
                                     "RTP arrives, but no sender has sent a decodable keyframe yet")

    def _try(self, sender: Sender, trial: RtpDecoder, packets: list[RtpPacket], now: float) -> None:
        """Decode a candidate's packets apart from the others'; pin it once a keyframe of it decodes (the rest of
        `packets` then go to it as the followed sender)."""
        for position, packet in enumerate(packets):
            results = self._take(trial, [packet], now, publish=False)
            if any(result.images for result in results):
                self._pin(sender, trial, packet, results, now)
                self._take(trial, packets[position + 1:], now, publish=True)
                return

    def _pin(self, sender: Sender, decoder: RtpDecoder, packet: RtpPacket, results: list[UnitResult],
             now: float) -> None:
        """Follow `sender`, whose keyframe just decoded (`results`): its decoder goes on as it is."""
        self.health.foreign_packets -= self._selector.pin(sender, now)
        self.health.sender_switches = self._selector.switches
        decoder.trial = False
        self._followed = decoder
        self._sequence.restart(packet.sequence)
        self._sender_address = (sender[1], sender[2])
        logger.info("source %s: following SSRC %08x from %s:%d (its keyframe decoded)", self.uri, *sender)
        for result in results:
            self._publish_result(result)

    def _take(self, decoder: RtpDecoder, packets: list[RtpPacket], now: float, *, publish: bool) -> list[UnitResult]:
        """Feed `packets` to `decoder`; account for each access unit it completes (publishing the pictures of the
        followed sender's) and for its counters. Returns the results."""
        self._latest_decoder = decoder
        results = [result for packet in packets for result in decoder.push(packet, now)]
        if decoder.undecided and packets:
            self._note_undecided()
        for result in results:
            self._account(result, decoder)
            if publish:
                self._publish_result(result)
        late, oversize, malformed = decoder.take_counts()
        self.health.packets_late += late
        self.health.units_dropped_oversize += oversize
        self.health.invalid_packets += malformed
        return results

    def _note_undecided(self) -> None:
        """Data of a stream whose codec is not known yet: it waits for parameter sets, which come with keyframes."""
        if self.health.state != "stopped":
            self.health.state = "waiting_keyframe"
        self._dropped_because = ("no parameter sets yet (H.264 SPS/PPS or H.265 VPS/SPS/PPS) to tell the codec: "
                                 "the sender must repeat them before every keyframe (config-interval=1)")

    def _account(self, result: UnitResult, decoder: RtpDecoder) -> None:
        """The health figures of one access unit, whoever sent it."""
        health, unit = self.health, result.unit
        self._note_frame_arrival(unit.first_arrival)
        if unit.keyframe:
            health.keyframes += 1
        if result.outcome == SKIPPED:
            health.frames_skipped += 1
            if health.state != "stopped":
                health.state = "waiting_keyframe"
            self._dropped_because = (f"no keyframe yet ({health.frames_skipped} frames skipped): the sender's "
                                     "keyframe interval decides how long this takes")
            return
        if not unit.complete:
            health.incomplete_frames += 1
        if result.outcome == OVERSIZE:
            health.frames_oversize += 1
            width, height = decoder.declared_size
            self._dropped_because = (f"the pictures ({width}x{height}) are larger than this server decodes "
                                     "(EDS_MAX_DECODED_PIXELS)")
            logger.debug("source %s: refused a %dx%d picture", self.uri, width, height)
        elif result.outcome == FAILED:
            health.decode_errors += 1
            self._dropped_because = (f"the {decoder.format.name} decoder rejects the frames "
                                     f"({health.decode_errors} decode errors)")
            logger.debug("source %s: decode error: %s", self.uri, result.error)

    def _publish_result(self, result: UnitResult) -> None:
        if result.outcome != DECODED:
            return
        unit = result.unit
        receive_ms = (unit.last_arrival - unit.first_arrival) * 1000.0
        for image in result.images:
            self._publish(image, pts=unit.timestamp / CLOCK_RATE, received=unit.first_arrival,
                          timings={"receive": receive_ms, "decode": result.decode_ms})
            self._last_picture, self._dropped_because = self.clock(), None

    def health_snapshot(self) -> dict:
        """The counters plus what is arriving: `sender` ("ip:port" of the followed sender), `ssrc`, `payload_type`
        (of the newest RTP packet), `codec` (decided, or chosen while undecided), `codec_mismatch` (corrections of a
        wrong codec), `width`/`height` (decoded, or declared by the parameter sets; None before either),
        `packets_per_s`, `last_packet_age_s` (any datagram), `senders_tried` (senders whose packets are being
        decoded apart, none followed yet or the followed one silent), `refused_senders` (address, SSRC, packets,
        why, how long ago; the most recent first) and `not_decoding`: why nothing decodes while packets arrive, or
        None."""
        snapshot = super().health_snapshot()
        now = self.clock()
        with self._rate_lock:
            packets_per_s = self._packet_rate.rate(now)
            age = None if self._last_packet is None else now - self._last_packet
        locked, address, decoder = self._selector.locked, self._sender_address, self._latest_decoder
        width, height = (snapshot["width"], snapshot["height"]) if snapshot["width"] else decoder.declared_size
        snapshot.update(
            sender=None if address is None else f"{address[0]}:{address[1]}",
            ssrc=None if locked is None else locked[0], payload_type=self._seen_payload_type,
            codec=None if decoder.format is None else decoder.format.name, codec_mismatch=decoder.codec.corrections,
            width=width or None, height=height or None, packets_per_s=round(packets_per_s, 1),
            last_packet_age_s=None if age is None else round(age, 3), senders_tried=self._selector.trials(),
            refused_senders=self._selector.refused(now), not_decoding=self._not_decoding(now, age))
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
