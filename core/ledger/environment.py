"""What a run ran on: host, CPU model, GPU name, Jetson model and library versions (read, never probed by import).

The GPU comes from torch.cuda when the job already imported torch, else from the NVIDIA driver's /proc entries;
a Jetson names itself in the device tree, and its L4T/JetPack release, power mode and clocks (which decide its
speed as much as the model does) are read from /etc/nv_tegra_release, `nvpmodel -q` and `jetson_clocks --show`.
"""
from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt", "pycuda",
             "opencv-python-headless", "sqlalchemy", "streamlit")
_CPUINFO = Path("/proc/cpuinfo")
_DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
_NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")
_TEGRA_RELEASE = Path("/etc/nv_tegra_release")
COMMAND_TIMEOUT_S = 10.0
# L4T release -> JetPack series, by prefix (NVIDIA's JetPack archive); the exact JetPack package version, where
# installed, comes from `dpkg-query` instead.
JETPACK_BY_L4T = (("32.4", "4.4"), ("32.5", "4.5"), ("32.6", "4.6"), ("32.7", "4.6.x"), ("35", "5.x"), ("36", "6.x"))

Runner = Callable[[list[str]], str | None]


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's marketing name from /proc/cpuinfo (x86 `model name`, Arm `Hardware`/`Model`), else the platform."""
    text = _read_text(_CPUINFO) if cpuinfo is None else cpuinfo
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in (text or "").splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def jetson_model(model_file: Path = _DEVICE_TREE_MODEL) -> str | None:
    """e.g. "NVIDIA Jetson Orin Nano Developer Kit" on a Jetson, None elsewhere."""
    text = _read_text(model_file)
    if text is None:
        return None
    model = text.replace("\x00", "").strip()
    return model if "jetson" in model.lower() else None


def tegra_release(text: str | None) -> dict[str, str] | None:
    """L4T version, JetPack series and board from /etc/nv_tegra_release's first line, e.g.
    `# R32 (release), REVISION: 4.4, GCID: 23942405, BOARD: t186ref, EABI: aarch64, DATE: ...`."""
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text or "")
    if match is None:
        return None
    l4t = f"{match.group(1)}.{match.group(2)}"
    board = re.search(r"BOARD:\s*([^,\s]+)", text or "")
    jetpack = next((series for prefix, series in JETPACK_BY_L4T if f"{l4t}.".startswith(f"{prefix}.")), "unknown")
    return {"l4t": l4t, "jetpack": jetpack, "board": board.group(1) if board else "unknown"}


def power_mode(text: str | None) -> str | None:
    """The mode name from `nvpmodel -q` (`NV Power Mode: MODE_15W_6CORE` then the mode id)."""
    match = re.search(r"NV Power Mode:\s*(\S+)", text or "")
    return match.group(1) if match else None


def clocks(text: str | None) -> dict[str, dict[str, int | str]]:
    """Per-unit frequencies from `jetson_clocks --show`: lines such as `GPU MinFreq=... MaxFreq=... CurrentFreq=...`
    or `cpu0: Online=1 Governor=schedutil MinFreq=... MaxFreq=... CurrentFreq=...`, keyed by unit (cpu0, GPU, EMC)."""
    units: dict[str, dict[str, int | str]] = {}
    for line in (text or "").splitlines():
        fields = dict(re.findall(r"(\w+)=(\S+)", line))
        if "CurrentFreq" in fields and line.split():
            units[line.split()[0].rstrip(":")] = {k: int(v) if v.isdigit() else v for k, v in fields.items()}
    return units


def command_output(argv: list[str]) -> str | None:
    """A command's stdout, or None when it is missing, fails or hangs (a probe never breaks a run)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _privileged_output(runner: Runner, argv: list[str]) -> str | None:
    """`argv` as is, else through non-interactive sudo (works when the user ran `sudo -v` first, never prompts)."""
    return runner(argv) or runner(["sudo", "-n", *argv])


def jetson_details(release_file: Path = _TEGRA_RELEASE, runner: Runner = command_output) -> dict[str, Any]:
    """L4T/JetPack release, JetPack package version, power mode and clocks of this Jetson (None where unreadable)."""
    package = runner(["dpkg-query", "-W", "-f=${Version}", "nvidia-jetpack"])
    return {
        "release": tegra_release(_read_text(release_file)),
        "jetpack_package": package.strip() if package else None,
        "power_mode": power_mode(_privileged_output(runner, ["nvpmodel", "-q"])),
        "clocks": clocks(_privileged_output(runner, ["jetson_clocks", "--show"])),
    }


def gpu_names(nvidia_gpus: Path = _NVIDIA_GPUS) -> list[str]:
    """Names of the CUDA GPUs (torch if already imported, else the NVIDIA driver's /proc files)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
        except RuntimeError:  # a broken driver setup: report what /proc knows instead
            pass
    names = []
    for information in sorted(nvidia_gpus.glob("*/information")):
        for line in (_read_text(information) or "").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model" and value.strip():
                names.append(value.strip())
    return names


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def describe_device(*, cpu: str, gpus: list[str], jetson: str | None) -> str:
    """One line naming the machine's best compute device (Jetson model, else first GPU, else CPU)."""
    return jetson or (gpus[0] if gpus else cpu)


def capture_environment() -> dict[str, Any]:
    cpu, gpus, jetson = cpu_model(), gpu_names(), jetson_model()
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
        "jetson": jetson,
        "jetson_details": jetson_details() if jetson else None,
        "device": describe_device(cpu=cpu, gpus=gpus, jetson=jetson),
        "libraries": library_versions(),
    }
