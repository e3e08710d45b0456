"""Environment capture for runs: CPU model parsing, Jetson model and details, GPU names from /proc (all with fakes)."""
from __future__ import annotations

import sys
from pathlib import Path

from core.ledger.environment import (
    capture_environment, clocks, command_output, cpu_model, describe_device, gpu_names, jetson_details, jetson_model,
    power_mode, tegra_release,
)


def test_cpu_model_reads_x86_and_arm_cpuinfo() -> None:
    assert cpu_model("processor\t: 0\nmodel name\t: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz\n") == (
        "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz")
    assert cpu_model("processor\t: 0\nBogoMIPS\t: 62.50\n\nHardware\t: NVIDIA Tegra\n") == "NVIDIA Tegra"
    assert cpu_model("") != ""


def test_jetson_model_comes_from_the_device_tree(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    assert jetson_model(model) == "NVIDIA Jetson Orin Nano Developer Kit"
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")
    assert jetson_model(model) is None
    assert jetson_model(tmp_path / "absent") is None


def test_gpu_names_from_the_nvidia_driver_proc_files(tmp_path: Path) -> None:
    card = tmp_path / "0000:01:00.0"
    card.mkdir()
    (card / "information").write_text("Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 42\n")
    assert "NVIDIA H100 80GB HBM3" in gpu_names(tmp_path)


def test_device_prefers_jetson_then_gpu_then_cpu() -> None:
    assert describe_device(cpu="ARMv8", gpus=["Orin"], jetson="NVIDIA Jetson AGX Orin") == "NVIDIA Jetson AGX Orin"
    assert describe_device(cpu="EPYC", gpus=["NVIDIA H100"], jetson=None) == "NVIDIA H100"
    assert describe_device(cpu="EPYC", gpus=[], jetson=None) == "EPYC"


def test_capture_environment_describes_this_machine() -> None:
    environment = capture_environment()
    assert environment["host"] and environment["cpu"] and environment["device"]
    assert environment["libraries"]["sqlalchemy"] and environment["libraries"]["python"]


CLOCKS_SHOW = """SOC family:tegra194  Machine:NVIDIA Jetson Xavier NX Developer Kit
Online CPUs: 0-5
cpu0: Online=1 Governor=schedutil MinFreq=1190400 MaxFreq=1907200 CurrentFreq=1907200 IdleStates: C1=1 c6=1
GPU MinFreq=114750000 MaxFreq=1109250000 CurrentFreq=1109250000
EMC MinFreq=204000000 MaxFreq=1600000000 CurrentFreq=1600000000 FreqOverride=1
Fan: PWM=255
NV Power Mode: MODE_15W_6CORE
"""


def test_tegra_release_gives_l4t_jetpack_and_board() -> None:
    jetpack_44 = "# R32 (release), REVISION: 4.4, GCID: 23942405, BOARD: t186ref, EABI: aarch64, DATE: x"
    assert tegra_release(jetpack_44) == {"l4t": "32.4.4", "jetpack": "4.4", "board": "t186ref"}
    jetpack_5 = "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64"
    assert tegra_release(jetpack_5)["jetpack"] == "5.x"
    jetpack_6 = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64"
    assert tegra_release(jetpack_6)["l4t"] == "36.4.3"
    assert tegra_release("# R99 (release), REVISION: 1.0")["jetpack"] == "unknown"
    assert tegra_release("not a release file") is None and tegra_release(None) is None


def test_power_mode_and_clocks_parse_the_jetson_tools_output() -> None:
    assert power_mode("NV Power Mode: MODE_15W_6CORE\n2\n") == "MODE_15W_6CORE"
    assert power_mode("") is None
    parsed = clocks(CLOCKS_SHOW)
    assert set(parsed) == {"cpu0", "GPU", "EMC"}
    assert parsed["GPU"]["CurrentFreq"] == parsed["GPU"]["MaxFreq"] == 1109250000
    assert parsed["cpu0"]["Governor"] == "schedutil"
    assert clocks(None) == {}


def test_jetson_details_from_fake_files_and_commands(tmp_path: Path) -> None:
    release = tmp_path / "nv_tegra_release"
    release.write_text("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t186ref, EABI: aarch64, DATE: x\n")
    calls: list[list[str]] = []
    outputs = {("dpkg-query", "-W", "-f=${Version}", "nvidia-jetpack"): "4.6.1-b110",
               ("nvpmodel", "-q"): "NV Power Mode: MODE_10W\n0\n",
               ("sudo", "-n", "jetson_clocks", "--show"): CLOCKS_SHOW}  # clocks only as root

    def runner(argv: list[str]) -> str | None:
        calls.append(argv)
        return outputs.get(tuple(argv))

    details = jetson_details(release, runner)
    assert details["release"] == {"l4t": "32.7.1", "jetpack": "4.6.x", "board": "t186ref"}
    assert (details["jetpack_package"], details["power_mode"]) == ("4.6.1-b110", "MODE_10W")
    assert details["clocks"]["EMC"]["CurrentFreq"] == 1600000000
    assert ["jetson_clocks", "--show"] in calls and ["sudo", "-n", "nvpmodel", "-q"] not in calls
    nothing = jetson_details(tmp_path / "absent", lambda argv: None)
    assert nothing == {"release": None, "jetpack_package": None, "power_mode": None, "clocks": {}}


def test_command_output_never_raises() -> None:
    assert command_output(["/nonexistent/tool", "--show"]) is None
    assert command_output([sys.executable, "-c", "import sys; sys.exit(3)"]) is None
    assert command_output([sys.executable, "-c", "print('ok')"]) == "ok\n"
