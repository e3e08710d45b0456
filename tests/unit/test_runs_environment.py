"""Environment capture for runs: CPU model parsing, Jetson model from the device tree, GPU names from /proc."""
from __future__ import annotations

from pathlib import Path

from core.ledger.environment import capture_environment, cpu_model, describe_device, gpu_names, jetson_model


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
