"""What a run ran on: host, CPU model, GPU name, Jetson model and library versions (read, never probed by import).

The GPU comes from torch.cuda when the job already imported torch, else from the NVIDIA driver's /proc entries;
a Jetson names itself in the device tree.
"""
from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt", "opencv-python-headless",
             "sqlalchemy", "streamlit")
_CPUINFO = Path("/proc/cpuinfo")
_DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
_NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


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
        "device": describe_device(cpu=cpu, gpus=gpus, jetson=jetson),
        "libraries": library_versions(),
    }
