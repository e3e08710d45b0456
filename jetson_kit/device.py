"""What this Jetson is: module, L4T and JetPack release, power mode, clocks, memory, library versions.

Everything is read at run time (the JetPack tables in the README are a guide, not an input): `/proc/device-tree/model`,
`/etc/nv_tegra_release`, `dpkg-query` for the `nvidia-jetpack` package, `nvpmodel -q` and `jetson_clocks --show`
(root only: run through `sudo -n`, which never prompts). A missing tool gives None, never an error. Python 3.6+.
"""
import os
import platform
import re
import socket
import subprocess
import sys

TOOL_TIMEOUT_S = 20
_RELEASE = re.compile(r"R(?P<major>\d+)\s*\(release\),\s*REVISION:\s*(?P<revision>[\d.]+)")
# L4T release -> JetPack release, for JetPacks without the nvidia-jetpack package (4.4 and older)
_JETPACK_OF_L4T = (("32.4", "4.4"), ("32.5", "4.5"), ("32.6", "4.6"), ("32.7", "4.6"), ("35.", "5"), ("36.", "6"))


def read_text(path):
    try:
        with open(path, "rb") as stream:
            return stream.read().decode("utf-8", "replace").replace("\0", "").strip()
    except OSError:
        return None


def run_tool(arguments, timeout=TOOL_TIMEOUT_S):
    """A tool's stdout, or None when it is missing, fails or takes too long."""
    try:
        done = subprocess.run(arguments, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                              timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace").strip()


def as_root(arguments):
    """The command line that runs `arguments` as root without ever prompting for a password."""
    return list(arguments) if hasattr(os, "geteuid") and os.geteuid() == 0 else ["sudo", "-n"] + list(arguments)


def module_name():
    """The board, e.g. "NVIDIA Jetson Xavier NX Developer Kit"; None off a Jetson."""
    return read_text("/proc/device-tree/model") or None


def l4t_release(text=None):
    """"32.4.4" from /etc/nv_tegra_release ("# R32 (release), REVISION: 4.4, ..."), or None."""
    text = read_text("/etc/nv_tegra_release") if text is None else text
    match = _RELEASE.search(text or "")
    return "{}.{}".format(match.group("major"), match.group("revision")) if match else None


def jetpack_release(l4t=None, package_version=None):
    """The JetPack release: the nvidia-jetpack package's version where installed, else from the L4T release."""
    if package_version is None:
        package_version = run_tool(["dpkg-query", "-W", "-f=${Version}", "nvidia-jetpack"])
    if package_version:
        return package_version.split("-")[0].split("+")[0]
    for prefix, release in _JETPACK_OF_L4T:
        if l4t and l4t.startswith(prefix):
            return release
    return None


def jetpack_major(l4t):
    """4 for L4T r32 (OMX encoders), 5 for r35 and later; None when unknown."""
    if not l4t:
        return None
    major = int(l4t.split(".")[0])
    return 4 if major <= 32 else 5


def power_mode():
    """nvpmodel's current mode, e.g. "MODE_15W_6CORE (2)"; None without nvpmodel."""
    text = run_tool(["nvpmodel", "-q"])
    if not text:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("NV Power Mode")), None)
    number = lines[-1] if lines and lines[-1].isdigit() else None
    if name and number is not None:
        return "{} ({})".format(name, number)
    return name or text


def clocks():
    """`jetson_clocks --show` (needs root; never prompts), or None where not permitted or not a Jetson."""
    return run_tool(as_root(["jetson_clocks", "--show"]))


def available_memory_mb():
    text = read_text("/proc/meminfo") or ""
    match = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) // 1024 if match else None


def numpy_version():
    try:
        import numpy
    except ImportError:
        return None
    return numpy.__version__


def device_label():
    """What the history's `device` column shows for this machine: the Jetson module, else the CPU's platform."""
    return module_name() or "{} ({})".format(platform.machine() or "unknown machine", socket.gethostname())


def environment(tensorrt_version=None, gpu=None, cuda=None):
    """The run environment recorded with every run: host, module, releases, power mode, clocks and versions."""
    l4t = l4t_release()
    return {
        "host": socket.gethostname(),
        "device": device_label(),
        "jetson_module": module_name(),
        "l4t": l4t,
        "jetpack": jetpack_release(l4t),
        "power_mode": power_mode(),
        "clocks": clocks(),
        "available_memory_mb": available_memory_mb(),
        "gpu": gpu,
        "cuda_api": cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {"numpy": numpy_version(), "tensorrt": tensorrt_version},
        "executable": sys.executable,
    }
