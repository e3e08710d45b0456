"""Encode once, send to many: one VP8 encoding per pipeline whatever the number of viewers, every viewer's stream
decodable from its first frame (a keyframe asked for on joining), a viewer that falls behind starting again at a
keyframe, the "no signal" picture encoded once for all, and the overlay sent beside each frame."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import pytest
from test_live_viewer import NAMES, BoxDetector

from core.detect.base import Detections
from core.live import LivePipeline, PipelineRegistry
from core.live.broadcast import (MAX_LAG_FRAMES, Broadcasts, EncodedFrame, Subscription, VideoBroadcast,
                                 Vp8Encoder, overlay_json)
from core.live.webrtc import frame_message
from core.stream import open_source
from tests.polling import wait_until

URI = "demo:?width=160&height=120&fps=30"


class CountingEncoder(Vp8Encoder):
    """Counts every picture encoded, by any broadcast that uses it."""

    calls = 0

    def encode(self, image, *, keyframe=False):
        CountingEncoder.calls += 1
        return super().encode(image, keyframe=keyframe)


@pytest.fixture
def pipeline():
    registry = PipelineRegistry()
    pipeline = registry.acquire(URI, BoxDetector)
    yield pipeline
    registry.stop_all()


def _decode(frames: list[EncodedFrame]) -> list[np.ndarray]:
    """Decode a subscription's frames in order, as a browser would; raises on a frame that does not decode."""
    decoder = av.CodecContext.create("libvpx", "r")
    pictures = []
    for frame in frames:
        for picture in decoder.decode(av.Packet(frame.data)):
            pictures.append(picture.to_ndarray(format="bgr24"))
    return pictures


def _take(subscription: Subscription, count: int) -> list[EncodedFrame]:
    frames = []
    while len(frames) < count:
        frame = subscription.next(timeout=10.0)
        assert frame is not None, f"no frame within 10 s after {len(frames)}"
        frames.append(frame)
    return frames


@pytest.mark.timeout(60)
def test_three_subscribers_share_one_encode_per_result(pipeline) -> None:
    CountingEncoder.calls = 0
    broadcast = VideoBroadcast(pipeline, encoder=CountingEncoder)
    subscriptions = [broadcast.subscribe() for _ in range(3)]
    with ThreadPoolExecutor(3) as readers:  # three viewers reading at once, as three peers do
        received = list(readers.map(lambda subscription: _take(subscription, 20), subscriptions))
    for subscription in subscriptions:
        subscription.close()
    wait_until(lambda: not broadcast.encoding, 10, "the encoder stopping with its last subscriber")
    stats = broadcast.stats()
    for frames in received:
        assert frames[0].keyframe  # a subscription starts at a keyframe
        assert [f.sequence for f in frames] == list(range(frames[0].sequence, frames[0].sequence + 20))  # in order
        pictures = _decode(frames)
        assert len(pictures) == 20 and pictures[0].shape == (120, 160, 3)
    # each pipeline result was encoded once: the encoder ran once per frame, not once per frame and subscriber
    assert CountingEncoder.calls == stats["results_encoded"] + stats["placeholders_encoded"]
    assert stats["results_encoded"] <= stats["results_processed"]
    assert stats["frames_sent"] == 60 and stats["subscriptions"] == 3 and stats["subscribers"] == 0
    first = {frames[0].sequence for frames in received}
    assert max(first) - min(first) <= MAX_LAG_FRAMES
    calls = CountingEncoder.calls
    pipeline.wait_result(pipeline.frames_processed, timeout=2.0)
    assert CountingEncoder.calls == calls  # nobody subscribes: nothing is encoded


@pytest.mark.timeout(60)
def test_a_late_subscriber_gets_a_keyframe_at_once(pipeline) -> None:
    broadcast = VideoBroadcast(pipeline)
    early = broadcast.subscribe()
    _take(early, 40)
    requests, keyframes = broadcast.keyframe_requests, broadcast.keyframes
    late = broadcast.subscribe()
    assert broadcast.keyframe_requests == requests + 1
    frames = _take(late, 5)
    assert frames[0].keyframe and broadcast.keyframes >= keyframes + 1
    # the late one's keyframe is the one asked for on joining (within a frame or two of the newest), not an old one
    assert frames[0].sequence >= broadcast.sequence - MAX_LAG_FRAMES
    assert len(_decode(frames)) == 5
    early.close()
    late.close()


@pytest.mark.timeout(60)
def test_a_subscriber_that_falls_behind_starts_again_at_a_keyframe(pipeline) -> None:
    broadcast = VideoBroadcast(pipeline)
    watching, slow = broadcast.subscribe(), broadcast.subscribe()
    first = _take(slow, 3)
    _take(watching, 3 + MAX_LAG_FRAMES + 5)  # the broadcast moves on while `slow` reads nothing
    later = _take(slow, 5)
    assert slow.keyframe_waits >= 1 and later[0].keyframe
    assert later[0].sequence > first[-1].sequence + MAX_LAG_FRAMES
    assert len(_decode(first + later)) == 8  # the skipped deltas are not missed: a keyframe starts afresh
    watching.close()
    slow.close()


@pytest.mark.timeout(60)
def test_waiting_for_the_stream_is_encoded_once_for_everyone() -> None:
    CountingEncoder.calls = 0
    with LivePipeline(open_source("rtp://127.0.0.1:0?codec=h265")) as silent:  # a port nothing is sent to
        broadcast = VideoBroadcast(silent, encoder=CountingEncoder)
        one, two = broadcast.subscribe(), broadcast.subscribe()
        frames = [_take(one, 3), _take(two, 3)]
        for received in frames:
            assert {json.loads(frame.overlay)["signal"] for frame in received} == {"waiting"}
            assert all(frame.result_sequence is None for frame in received)
            assert len(_decode(received)) == 3
        stats = broadcast.stats()
        assert stats["results_encoded"] == 0 and stats["placeholders_encoded"] >= 3
        assert CountingEncoder.calls == stats["placeholders_encoded"]  # once for both subscribers
        one.close()
        two.close()


def test_overlay_and_frame_message() -> None:
    detections = Detections(np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32), np.array([0.3, 0.9], np.float32),
                            np.array([2, 1]))
    overlay = json.loads(overlay_json(detections, 640, 480, "live"))
    assert overlay == {"w": 640, "h": 480, "signal": "live",
                       "boxes": [[5.0, 6.0, 7.0, 8.0, 0.9, 1], [1.0, 2.0, 3.0, 4.0, 0.3, 2]]}
    assert json.loads(overlay_json(None, 320, 240, "no_signal"))["boxes"] == []
    message = json.loads(frame_message(EncodedFrame(7, b"x", True, overlay_json(detections, 640, 480, "live")), 42))
    assert message["rtp"] == 42 and message["boxes"][0][5] == 1 and NAMES[message["boxes"][0][5]] == "a"


def test_stills_are_keyframes_encoded_once_per_text() -> None:
    CountingEncoder.calls = 0
    broadcasts = Broadcasts(encoder=CountingEncoder)
    first = broadcasts.still("STARTING...")
    assert broadcasts.still("STARTING...") is first and CountingEncoder.calls == 1
    assert first.keyframe and len(_decode([first])) == 1
