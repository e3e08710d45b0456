"""The GStreamer receive path as it runs on a Jetson, with libav in place of the hardware decoder: the program's own
receive pipeline (`receive_pipeline`, what `rtp://...&decoder=jetson|gstreamer` opens) is checked and built element
by element with GStreamer's parser switched off (gst_receive_probe.py, run by the distribution's Python, which has
the bindings), and receives our software stand-in for the Jetson's sender on 127.0.0.1 as BGR pictures; a pipeline
of the security review is refused before anything is built."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from stream_helpers import free_udp_port, start_gst_sender

from core.config import REPO_ROOT
from core.stream.pipelines import receive_pipeline
from tests.integration.rtsp_helpers import SYSTEM_PYTHON

PROBE = Path(__file__).with_name("gst_receive_probe.py")


def _probe(port: int, pipeline: str, samples: int = 30) -> subprocess.Popen:
    return subprocess.Popen([SYSTEM_PYTHON, str(PROBE), str(port), pipeline, str(samples)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


@pytest.mark.timeout(90)
@pytest.mark.parametrize("codec", ["h265", "h264"])
def test_the_programs_receive_pipeline_is_built_element_by_element_and_receives(codec: str) -> None:
    port = free_udp_port()
    probe = _probe(port, receive_pipeline(port=port, codec=codec, jetson=False, address="127.0.0.1"))
    sender = None
    try:
        ready = probe.stdout.readline().strip()
        assert ready == "ready", f"the probe did not start (python3-gi, scripts/setup.sh --dev): {probe.stderr.read()}"
        sender = start_gst_sender(port, codec, frames=90)
        report = json.loads(probe.stdout.readline())
        assert probe.wait(timeout=30) == 0
    finally:
        for process in (sender, probe):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    assert report["samples"] == 30 and report["last"] == ["BGR", 640, 480]
    assert report["factories"] == sorted(["udpsrc", "rtpjitterbuffer", f"rtp{codec}depay", f"{codec}parse",
                                          f"avdec_{codec}", "videoconvert", "capsfilter", "appsink"])


@pytest.mark.timeout(60)
def test_a_pipeline_of_the_review_is_refused_before_anything_is_built() -> None:
    port = free_udp_port()
    probe = _probe(port, f"udpsrc port={port} ! tee ! filesink location=written-by-the-stream")
    output, _ = probe.communicate(timeout=30)
    assert probe.returncode == 2 and output.startswith("error: receive pipeline refused: tee is not an element")
    assert not Path("written-by-the-stream").exists()
