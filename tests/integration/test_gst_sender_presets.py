"""Every sender preset's command runs with gst-launch-1.0 on this machine once its Jetson-only elements are swapped
for software stand-ins (the swap test_gst_pipelines uses), and streams sent by presets on 127.0.0.1 are received and
decoded by the project's RTP source. A missing gst-launch-1.0 fails (the README's setup installs it)."""
from __future__ import annotations

import subprocess

import pytest
from stream_helpers import FRAMES, free_udp_port, receive_with_our_receiver, with_stand_ins

from core.gst.jetson_sender import PRESETS, preset_options, sender_command

SHORT_RUN_FRAMES = 5  # enough for the pipeline to negotiate caps, encode, payload and reach end of stream


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_runs_with_stand_ins_to_end_of_stream(name: str) -> None:
    options = preset_options(name, "127.0.0.1", port=free_udp_port())
    arguments = [argument.replace(f"num-buffers={FRAMES}", f"num-buffers={SHORT_RUN_FRAMES}")
                 for argument in with_stand_ins(sender_command(options), options.codec)]
    assert f"num-buffers={SHORT_RUN_FRAMES}" in arguments
    completed = subprocess.run(arguments, capture_output=True, text=True, timeout=90)
    assert completed.returncode == 0, completed.stderr[-800:]
    assert "Setting pipeline to PLAYING" in completed.stdout and "Got EOS from element" in completed.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["jetpack5-usb-h265", "jetpack5-usb-h264"])
def test_a_preset_stream_is_received_and_decoded(name: str) -> None:
    options = preset_options(name, "127.0.0.1")
    health = receive_with_our_receiver(with_stand_ins(sender_command(options), options.codec), options.codec)
    assert health["frames_decoded"] >= FRAMES - 5 and (health["width"], health["height"]) == (640, 480)
    assert health["keyframes"] >= 2 and health["decode_errors"] == 0
