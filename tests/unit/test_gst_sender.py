"""The Jetson sender command: the seed preset is the seed's text, every preset is valid and uses only properties the
NVIDIA facts and this machine's registry know, bad values are refused with a one-line UserError, and the README and
`send --help` show what its one builder makes."""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import replace

import pytest

from core.cli import main
from core.commands.send_receive import JETSON_HELP_PRESET
from core.config import REPO_ROOT
from core.errors import UserError
from core.gst.addresses import HostAddress, parse_ip_addr, server_ipv4_addresses
from core.gst.explain import explain_pipeline
from core.gst.jetson_sender import HOST_PLACEHOLDER, PRESETS, SEED_PRESET, SenderOptions, preset_options, sender_command

SEED = ("gst-launch-1.0 v4l2src ! video/x-raw,framerate=30/1,width=640,height=480 ! nvvidconv ! omxh265enc "
        "insert-vui=1 ! h265parse ! rtph265pay config-interval=1 ! udpsink host=HOST port=5000 sync=false -e")


def readme_seed_command() -> str:
    """The seed's Jetson sender as the README shows it (backslash-continued lines joined)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^gst-launch-1\.0 v4l2src.*?(?<!\\)$", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "the README no longer shows the seed's gst-launch-1.0 v4l2src ... command"
    return match.group(0).replace("\\\n", " ")


def test_the_seed_preset_is_the_seed_command_with_this_servers_address() -> None:
    assert sender_command(preset_options("seed", "192.168.1.20")) == SEED.replace("HOST", "192.168.1.20")
    assert sender_command(preset_options("seed", "jetson-receiver.local")) == SEED.replace(
        "HOST", "jetson-receiver.local")


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid_and_explained_without_unknown_pieces(name: str) -> None:
    options = preset_options(name, "10.0.0.5")
    command = sender_command(options)
    assert command.startswith("gst-launch-1.0 ") and command.endswith(" ! udpsink host=10.0.0.5 port=5000 "
                                                                        "sync=false -e")
    encoder = f"omx{options.codec}enc" if options.jetpack == 4 else f"nvv4l2{options.codec}enc"
    assert f" ! {encoder} " in command and f"{options.codec}parse ! rtp{options.codec}pay config-interval=1" in command
    explanation = explain_pipeline(command)
    assert all(not row.source.startswith("unknown") for row in explanation.elements), explanation.elements
    assert all(row.status == "known" and not row.problem for row in explanation.properties), [
        (row.element, row.name, row.status, row.problem) for row in explanation.properties
        if row.status != "known" or row.problem]


def test_jetpack_5_encoder_settings_and_nvmm_input() -> None:
    command = sender_command(preset_options("jetpack5-usb-h265", "10.0.0.5", keyframe_interval=15, bitrate=2_000_000,
                                            camera="/dev/video2", port=5004))
    assert command == (
        "gst-launch-1.0 v4l2src device=/dev/video2 ! video/x-raw,framerate=30/1,width=640,height=480 ! nvvidconv ! "
        "'video/x-raw(memory:NVMM),format=I420' ! nvv4l2h265enc bitrate=2000000 iframeinterval=15 idrinterval=15 "
        "insert-sps-pps=1 insert-vui=1 ! h265parse ! rtph265pay config-interval=1 ! udpsink host=10.0.0.5 port=5004 "
        "sync=false -e")


def test_jetpack_4_h264_and_a_csi_camera() -> None:
    command = sender_command(SenderOptions("10.0.0.5", codec="h264", jetpack=4, camera="csi:1", width=1280,
                                           height=720, fps=60, bitrate=6_000_000, keyframe_interval=60))
    assert command == (
        "gst-launch-1.0 nvarguscamerasrc sensor-id=1 ! 'video/x-raw(memory:NVMM),width=1280,height=720,"
        "framerate=60/1,format=NV12' ! nvvidconv ! omxh264enc bitrate=6000000 iframeinterval=60 insert-vui=1 ! "
        "h264parse ! rtph264pay config-interval=1 ! udpsink host=10.0.0.5 port=5000 sync=false -e")


@pytest.mark.parametrize(("changes", "message"), [
    ({"port": 0}, "port must be a whole number from 1 to 65,535"),
    ({"port": 65536}, "port must be"),
    ({"port": "5000"}, "port must be"),
    ({"width": 641}, "must be even"),
    ({"width": 8}, "width must be"),
    ({"height": 10_000}, "height must be"),
    ({"fps": 0}, "frame rate must be"),
    ({"fps": 500}, "frame rate must be"),
    ({"bitrate": 10}, "bitrate must be"),
    ({"keyframe_interval": 0}, "keyframe interval must be"),
    ({"camera": "/dev/sda"}, "camera must be /dev/videoN"),
    ({"camera": "/dev/video0; reboot"}, "camera must be"),
    ({"camera": "csi:x"}, "camera must be"),
    ({"host": "1.2.3.999"}, "not a valid IPv4 address"),
    ({"host": "evil;reboot"}, "not an IPv4 address or host name"),
    ({"host": "-leading.example"}, "not an IPv4 address or host name"),
    ({"host": ""}, "not an IPv4 address or host name"),
    ({"codec": "vp8"}, "codec must be one of h265, h264"),
    ({"jetpack": 6}, "JetPack release must be 4 or 5"),
])
def test_bad_values_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        sender_command(replace(SenderOptions("10.0.0.5"), **changes))


def test_unknown_preset_and_option_are_refused() -> None:
    with pytest.raises(UserError, match="unknown preset 'fast'"):
        preset_options("fast", "10.0.0.5")
    with pytest.raises(UserError, match="unknown sender option"):
        preset_options("seed", "10.0.0.5", colour="red")


def test_addresses_from_ip_output_and_this_server() -> None:
    output = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
              "3: wlan0    inet 192.168.1.20/24 brd 192.168.1.255 scope global dynamic wlan0\\       valid_lft\n")
    assert parse_ip_addr(output) == [HostAddress("127.0.0.1", "lo"), HostAddress("192.168.1.20", "wlan0")]
    addresses = server_ipv4_addresses()
    assert addresses[-1].is_loopback and "127.0.0.1" in [entry.address for entry in addresses]
    assert HostAddress("127.0.0.1", "lo").label == "127.0.0.1 (lo) — this machine only"


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["streams", "sender-command", "--host", "10.1.2.3"]) == 0
    assert capsys.readouterr().out.strip() == SEED.replace("HOST", "10.1.2.3")
    assert main(["streams", "sender-command", "--preset", "jetpack5-usb-h264", "--host", "10.1.2.3", "--fps", "15",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["options"]["fps"] == 15 and "nvv4l2h264enc" in report["command"] and report["addresses"]
    assert main(["streams", "sender-command", "--host", "10.1.2.3", "--width", "641"]) == 2
    assert "must be even" in capsys.readouterr().err


def test_the_readme_shows_the_seed_command_its_one_builder_makes() -> None:
    assert shlex.split(readme_seed_command()) == shlex.split(
        sender_command(preset_options(SEED_PRESET, HOST_PLACEHOLDER)))


def test_send_help_shows_the_builders_jetpack_5_sender_with_its_keyframe_settings(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["send", "--help"])
    printed = capsys.readouterr().out
    command = sender_command(preset_options(JETSON_HELP_PRESET, HOST_PLACEHOLDER))
    assert f"\n  {command}\n" in printed
    assert command.startswith("gst-launch-1.0 v4l2src ! video/x-raw,framerate=30/1,width=640,height=480 ! nvvidconv")
    assert "nvv4l2h265enc bitrate=4000000 iframeinterval=30 idrinterval=30 insert-sps-pps=1 insert-vui=1" in command
    assert command.endswith("h265parse ! rtph265pay config-interval=1 ! udpsink host=HOST port=5000 sync=false -e")
