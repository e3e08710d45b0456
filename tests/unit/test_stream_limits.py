"""Every source keeps the pixel cap (EDS_MAX_DECODED_PIXELS) and the frame-rate cap (EDS_MAX_FPS) handed to it from
the settings: the demo scene and webcams are refused before anything opens, a video file (a tiny clip made with
ffmpeg) when it opens or as its pictures come, and any source's pictures over a cap are refused or dropped and
counted. RTP, RTSP and GStreamer sources are capped by the same base class (their own tests cover their paths)."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from core.config import DEFAULT_MAX_DECODED_PIXELS, DEFAULT_MAX_FPS, load_settings
from core.errors import UserError
from core.stream.base import SourceLimits, ThreadedSource
from core.stream.demo import DemoSource
from core.stream.sources import SourcePolicy, open_source

FFMPEG = shutil.which("ffmpeg")


def _policy(**limits: float) -> SourcePolicy:
    return SourcePolicy(limits=SourceLimits(**limits))


def test_the_caps_come_from_the_settings() -> None:
    assert SourceLimits.from_settings(load_settings({})) == SourceLimits(DEFAULT_MAX_DECODED_PIXELS, DEFAULT_MAX_FPS)
    settings = load_settings({"EDS_MAX_DECODED_PIXELS": "1000", "EDS_MAX_FPS": "12.5",
                              "EDS_RTP_ALLOWED_SENDERS": "10.0.0.0/8"})
    policy = SourcePolicy.from_settings(settings)
    assert policy.limits == SourceLimits(max_pixels=1000, max_fps=12.5)
    assert policy.allowed_senders == "10.0.0.0/8" and policy.pipelines_file == settings.data_root / "gst-pipelines.toml"
    for text in ("0", "-3", "fast", "nan", "inf"):
        with pytest.raises(UserError, match="EDS_MAX_FPS"):
            load_settings({"EDS_MAX_FPS": text})


@pytest.mark.parametrize(("uri", "message"), [
    ("demo:?width=4000&height=4000", "4000x4000 .*EDS_MAX_DECODED_PIXELS"),
    ("demo:?fps=61", "61 frames a second.*EDS_MAX_FPS"),
    ("demo:?fps=nan", "positive number"),
    ("/dev/video0?width=7680&height=4320", "webcam /dev/video0 is 7680x4320"),
    ("/dev/video0?fps=120", "120 frames a second"),
])
def test_demo_and_webcam_over_a_cap_are_refused_before_opening(uri: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        open_source(uri)
    assert "\n" not in str(caught.value)


def test_the_demo_scene_keeps_the_caps_it_is_given() -> None:
    with pytest.raises(UserError, match="EDS_MAX_DECODED_PIXELS"):
        open_source("demo:?width=320&height=240", _policy(max_pixels=320 * 240 - 1))
    with pytest.raises(UserError, match="EDS_MAX_FPS"):
        open_source("demo:", _policy(max_fps=25))  # the default 30 fps is over a cap of 25
    with pytest.raises(UserError, match="EDS_MAX_DECODED_PIXELS"):
        DemoSource("demo:", width=5000, height=5000)
    with open_source("demo:?width=64&height=48&fps=25&duration=0.2", _policy(max_pixels=64 * 48, max_fps=25)) as demo:
        frames = list(demo)
    assert frames and frames[-1].image.shape == (48, 64, 3)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 64x48 clip of 48 frames at 120 fps, made with ffmpeg's test source."""
    if FFMPEG is None:
        pytest.fail("ffmpeg is not installed (the README's setup installs it)")
    path = tmp_path_factory.mktemp("clips") / "fast.mp4"
    subprocess.run([FFMPEG, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=120", "-frames:v",
                    "48", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True, timeout=60)
    return path


def test_a_video_file_over_the_pixel_cap_is_refused_when_it_opens(clip: Path) -> None:
    with pytest.raises(UserError, match=r"64x48\) are larger than this server decodes .*EDS_MAX_DECODED_PIXELS"):
        open_source(str(clip), _policy(max_pixels=64 * 48 - 1))
    with open_source(f"{clip}?realtime=0", _policy(max_pixels=64 * 48)) as source:
        assert len(list(source)) == 48


@pytest.mark.timeout(30)
def test_a_video_file_faster_than_the_rate_cap_has_the_extra_pictures_dropped(clip: Path) -> None:
    rate = 10.0
    with open_source(str(clip), _policy(max_fps=rate)) as source:  # played at its own 120 fps
        delivered = len(list(source))
    health = source.health_snapshot()
    assert health["frames_decoded"] + health["frames_over_rate"] == 48
    assert health["frames_over_rate"] > 0 and delivered <= health["frames_decoded"]
    # the bucket starts with a second's worth (`rate` pictures) and refills at `rate` a second of the stream
    assert health["frames_decoded"] <= rate + rate * health["stream_seconds"] + 1


@pytest.mark.timeout(30)
def test_a_file_read_as_fast_as_possible_is_paced_by_the_rate_cap_not_cut(clip: Path) -> None:
    with open_source(f"{clip}?realtime=0", _policy(max_fps=40.0)) as source:
        started = time.monotonic()
        frames = list(source)
        elapsed = time.monotonic() - started
    health = source.health_snapshot()
    assert len(frames) == 48 and health["frames_over_rate"] == 0 and health["frames_dropped"] == 0
    assert elapsed >= 7 / 40.0  # 40 pictures from the bucket at once, the last 8 waited for at 40 a second


class _ManualSource(ThreadedSource):
    """A source whose pictures the test publishes, with an injected clock (any source publishes this way)."""

    def __init__(self, clock: list[float], limits: SourceLimits) -> None:
        super().__init__("manual:", limits=limits, clock=lambda: clock[0])
        self._start()

    def _produce(self) -> None:
        self._stopping.wait()


def test_any_source_refuses_pictures_over_the_pixel_cap_and_drops_those_over_the_rate_cap() -> None:
    clock = [0.0]
    source = _ManualSource(clock, SourceLimits(max_pixels=64 * 48, max_fps=30.0))
    try:
        source._publish(np.zeros((48, 65, 3), np.uint8), pts=None, received=0.0)
        assert source.health.frames_oversize == 1 and source.read(timeout=0) is None
        for index in range(300):  # 300 pictures in 1 s: 10 times the cap
            clock[0] = index / 300
            source._publish(np.zeros((48, 64, 3), np.uint8), pts=None, received=clock[0])
        health = source.health
        assert health.frames_decoded + health.frames_over_rate == 300
        assert 30 + 29 <= health.frames_decoded <= 30 + 30 + 1  # a second's burst, then 30 a second
    finally:
        source.close()
