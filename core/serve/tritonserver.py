"""The Triton Inference Server installed with the `nvidia-pytriton` wheel (`tritonserver`, its Python backend and
the backend's stubs, one per Python version), and the command line and environment `core serve` starts it with.

Only the server is taken from that wheel; PyTriton's own proxy (a second Python process receiving every request
over ZeroMQ) is not used: the model runs in the Python backend's stub processes themselves.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import BackendUnavailable

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # on the stubs' PYTHONPATH, so model.py imports `core`
SHM_DEFAULT_BYTES = 4 * 2**20  # each instance's shared memory with tritonserver at start, and each step it grows
                               # by (a batch of 32 640x480 frames takes 30 MB; a container's /dev/shm may be small)
WHEEL = "nvidia-pytriton"
STUB_NAME = "triton_python_backend_stub"


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    backends: Path
    libraries: Path
    stub: Path  # the Python backend stub for this interpreter's version


def find_triton(version: tuple[int, int] = sys.version_info[:2]) -> TritonInstall:
    """Where the wheel put tritonserver (without importing PyTriton); BackendUnavailable if it is not installed."""
    found = importlib.util.find_spec("pytriton")
    if found is None or not found.submodule_search_locations:
        raise BackendUnavailable(f"core serve needs tritonserver from the {WHEEL} wheel: "
                                 "pip install --no-deps -r requirements-triton.txt")
    root = Path(next(iter(found.submodule_search_locations))) / "tritonserver"
    stub = root / "python_backend_stubs" / f"{version[0]}.{version[1]}" / STUB_NAME
    install = TritonInstall(root / "bin" / "tritonserver", root / "backends", root.parents[1] / "nvidia_pytriton.libs",
                            stub)
    for path in (install.binary, install.backends / "python", stub):
        if not path.exists():
            raise BackendUnavailable(f"{WHEEL} has no {path.relative_to(root)} (Python {version[0]}.{version[1]})")
    return install


def shm_prefix(pid: int) -> str:
    """The prefix of the Python backend's shared-memory regions of the server started by process `pid` (unique per
    server on a host; what is left under /dev/shm after a kill is found by it)."""
    return f"eds-triton-{pid}-"


def python_backend_folder(install: TritonInstall, folder: Path) -> Path:
    """A backend directory whose Python backend runs the stub for this interpreter (tritonserver looks for the stub
    beside the backend's library only); returns `folder`."""
    python = Path(folder) / "python"
    python.mkdir(parents=True, exist_ok=True)
    for source in (install.backends / "python").iterdir():
        if source.is_file():
            shutil.copy2(source, python / source.name)
    shutil.copy2(install.stub, python / STUB_NAME)
    return Path(folder)


def server_command(install: TritonInstall, repository: Path, backends: Path, *, grpc_port: int, http_port: int, metrics_port: int,
                   address: str, log_file: Path | None, pid: int) -> list[str]:
    command = [str(install.binary), f"--model-repository={repository}", f"--backend-directory={backends}",
               f"--grpc-address={address}", f"--grpc-port={grpc_port}", f"--http-address={address}",
               f"--http-port={http_port}", f"--metrics-address={address}", f"--metrics-port={metrics_port}",
               "--allow-sagemaker=false", "--allow-vertex-ai=false", "--exit-on-error=true",
               "--strict-readiness=true", "--disable-auto-complete-config",
               f"--backend-config=python,shm-region-prefix-name={shm_prefix(pid)}",
               f"--backend-config=python,shm-default-byte-size={SHM_DEFAULT_BYTES}",
               f"--backend-config=python,shm-growth-byte-size={SHM_DEFAULT_BYTES}"]
    if log_file is not None:
        command.append(f"--log-file={log_file}")
    return command


def library_path_with_libdir(current: str | None, libdir: str | None) -> str | None:
    """`current` LD_LIBRARY_PATH with `libdir` moved to the front (unchanged when there is no LIBDIR). The stub is
    linked against `libpython3.X.so` and the loader takes the first one it finds: with another Python build than the
    system's (pyenv, conda), the stub would run the wrong one and fail to load the model
    (`'_thread.RLock' object has no attribute '_recursion_count'`)."""
    if not libdir:
        return current
    others = [entry for entry in (current or "").split(os.pathsep) if entry and entry != libdir]
    return os.pathsep.join([libdir, *others])


def server_environment(install: TritonInstall, environ: Mapping[str, str], libdir: str | None) -> dict[str, str]:
    """`environ` for tritonserver and its stubs: this interpreter's libpython first (the stub links libpython3.X and
    takes the first it finds), the wheel's libraries, and the project on PYTHONPATH."""
    env = dict(environ)
    library_path = library_path_with_libdir(env.get("LD_LIBRARY_PATH"), libdir)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(part for part in (library_path, str(install.libraries)) if part)
    env["PYTHONPATH"] = os.pathsep.join(part for part in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if part)
    return env
