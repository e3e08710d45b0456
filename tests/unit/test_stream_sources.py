"""The demo scene, file sources and source errors."""
from __future__ import annotations

import av
import numpy as np
import pytest

from core.errors import UserError
from core.stream import open_source
from core.stream.demo import DEMO_CLASSES, draw_demo_frame, read_frame_counter


def test_demo_frame_is_deterministic_with_boxes_inside() -> None:
    first, objects = draw_demo_frame(17, 320, 240, wall_time=0.0)
    again, _ = draw_demo_frame(17, 320, 240, wall_time=0.0)
    assert first.shape == (240, 320, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert [o.class_name for o in objects] == list(DEMO_CLASSES[1:])
    for item in objects:
        x1, y1, x2, y2 = item.box
        assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240
    later, moved = draw_demo_frame(30, 320, 240, wall_time=0.0)
    assert moved[0].box != objects[0].box and not np.array_equal(first, later)


@pytest.mark.parametrize("index", [0, 1, 255, 4097, 65535])
def test_frame_counter_survives_lossy_encoding(index: int) -> None:
    image, _ = draw_demo_frame(index, 320, 240)
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.options = {"preset": "ultrafast", "crf": "35"}
    decoder = av.CodecContext.create("h264", "r")
    frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
    frame.pts = 0
    packets = list(encoder.encode(frame)) + list(encoder.encode(None))
    decoded = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    assert read_frame_counter(decoded[0].to_ndarray(format="bgr24")) == index


@pytest.mark.timeout(20)
def test_file_source_reads_every_frame_when_not_realtime(tmp_path) -> None:
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(20):
            frame = av.VideoFrame.from_ndarray(draw_demo_frame(index, 160, 120)[0], format="bgr24")
            container.mux(stream.encode(frame.reformat(format="yuv420p")))
        container.mux(stream.encode(None))
    with open_source(f"{path}?realtime=0") as source:
        frames = list(source)
    assert [read_frame_counter(f.image) for f in frames] == list(range(20))
    health = source.health_snapshot()
    assert health["frames_decoded"] == 20 and health["frames_dropped"] == 0 and health["keyframes"] >= 1
    assert (health["width"], health["height"], health["state"]) == (160, 120, "stopped")


def test_missing_file_and_busy_port_are_user_errors(tmp_path) -> None:
    with pytest.raises(UserError, match="not found"):
        open_source(str(tmp_path / "missing.mp4"))
    with open_source("rtp://127.0.0.1:0?codec=h265") as first:
        with pytest.raises(UserError, match="cannot listen"):
            open_source(f"rtp://127.0.0.1:{first.port}?codec=h265")
