"""The GStreamer pipeline texts we hand to people (core.stream.pipelines, the README's seed command) are run with
gst-launch-1.0 to PLAYING and end of stream on 127.0.0.1: Jetson-only elements are swapped for software stand-ins,
everything else runs as written. A missing gst-launch-1.0 fails (the README's setup installs it)."""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from stream_helpers import (FRAMES, free_udp_port, receive_with_our_receiver, start_gst_sender,
                            wait_until_listening, with_stand_ins)

from core.stream.pipelines import jetson_send_pipeline, receive_pipeline, software_send_pipeline

README = Path(__file__).resolve().parents[2] / "README.md"
def _ending_by_itself(arguments: list[str], buffers: int) -> list[str]:
    """A receive pipeline that gst-launch can run to its end: udpsrc sends end-of-stream after `buffers` packets,
    and the appsink, which no application pulls from here, does not wait for its queue to be pulled."""
    source, sink = arguments.index("udpsrc"), arguments.index("appsink")
    return (arguments[:source + 1] + [f"num-buffers={buffers}"] + arguments[source + 1:sink + 1]
            + ["wait-on-eos=false"] + arguments[sink + 1:])


def _readme_seed_command() -> str:
    """The seed's Jetson sender as the README shows it (backslash-continued lines joined)."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^gst-launch-1\.0 v4l2src.*?(?<!\\)$", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "the README no longer shows the seed's gst-launch-1.0 v4l2src ... command"
    return match.group(0).replace("\\\n", " ")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("codec", ["h265", "h264"])
def test_jetson_sender_text_runs_with_stand_ins_and_is_received(codec: str) -> None:
    text = jetson_send_pipeline(host="127.0.0.1", port=5000, codec=codec)
    health = receive_with_our_receiver(with_stand_ins(text, codec), codec)
    assert health["frames_decoded"] >= FRAMES - 5 and (health["width"], health["height"]) == (640, 480)
    assert health["keyframes"] >= 2 and health["decode_errors"] == 0


@pytest.mark.timeout(90)
def test_the_readme_seed_command_runs_with_stand_ins_and_is_received() -> None:
    command = _readme_seed_command()
    assert "omxh265enc" in command and "udpsink host=HOST port=5000" in command
    health = receive_with_our_receiver(with_stand_ins(command, "h265"), "h265")
    assert health["frames_decoded"] >= FRAMES - 5 and (health["width"], health["height"]) == (640, 480)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("jetson", [True, False], ids=["jetson", "pc"])
def test_receive_pipeline_text_runs_to_end_of_stream_and_delivers_bgr(jetson: bool) -> None:
    port = free_udp_port()
    arguments = with_stand_ins("gst-launch-1.0 " + receive_pipeline(port=port, jetson=jetson), "h265")
    receiver = subprocess.Popen(_ending_by_itself(arguments[:1] + ["-v"] + arguments[1:], 450),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sender = None
    try:
        wait_until_listening(port)
        sender = start_gst_sender(port, "h265", frames=300)
        output, errors = receiver.communicate(timeout=30)
    finally:
        receiver.kill()
        if sender is not None:
            sender.kill()
            sender.wait(timeout=5)
    assert receiver.returncode == 0, errors.decode()[-800:]
    log = output.decode()
    assert "Got EOS from element" in log
    sink_caps = [line for line in log.splitlines() if "GstAppSink:sink.GstPad:sink: caps = video/x-raw" in line]
    assert sink_caps, log[-2000:]
    assert all(field in sink_caps[-1] for field in ("format=(string)BGR", "width=(int)640", "height=(int)480"))


def test_stand_ins_leave_no_jetson_element_behind() -> None:
    texts = [jetson_send_pipeline(host="h", codec=codec) for codec in ("h265", "h264")]
    texts += ["gst-launch-1.0 " + receive_pipeline(), _readme_seed_command()]
    for text in texts:
        swapped = " ".join(with_stand_ins(text, "h265"))
        assert not re.search(r"\bnv\w+|omx\w+|NVMM|v4l2src", swapped), swapped
    software = software_send_pipeline(host="127.0.0.1", port=5000)
    assert with_stand_ins("gst-launch-1.0 " + software, "h265")[1:] == shlex.split(software)
