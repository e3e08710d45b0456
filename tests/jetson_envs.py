"""The interpreters the Jetson program is tested under: each JetPack's system Python (pyenv's CPython 3.6, 3.8 and
3.10) with that JetPack's numpy, installed per interpreter (pip --target) into a cache folder, plus the fake
TensorRT of that JetPack (tests/jetson_fakes).

`python3 -m tests.jetson_envs install` (scripts/setup.sh --dev runs it) installs what is missing; tests never
download: an environment that is not installed, or an interpreter that is missing, fails the test with a message
saying what to run.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FAKES = REPO_ROOT / "tests" / "jetson_fakes"
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
ENVS_ROOT = Path(os.environ.get("EDS_JETSON_ENVS") or Path.home() / ".cache" / "edge-detector-studio" / "jetson-envs")
MARKER = ".installed-from"


@dataclass(frozen=True)
class JetsonEnv:
    name: str
    python: str  # major.minor of the JetPack's system Python
    requirements: str  # the requirements file pinning its numpy
    tensorrt: str  # the fake TensorRT folder under tests/jetson_fakes
    numpy: str  # the numpy release the requirements pin for this Python


ENVIRONMENTS: dict[str, JetsonEnv] = {env.name: env for env in (
    JetsonEnv("jetpack-4.4", "3.6", "requirements-jetson.txt", "trt71", "1.13.3"),
    JetsonEnv("jetpack-5.1", "3.8", "requirements-jetson.txt", "trt85", "1.17.4"),
    JetsonEnv("jetpack-5.1-numpy1.24", "3.8", "requirements-jetson-numpy124.txt", "trt85", "1.24.4"),
    JetsonEnv("jetpack-6.1", "3.10", "requirements-jetson.txt", "trt103", "1.21.5"),
)}


class SetupMissing(Exception):
    """An interpreter or an environment the tests need is not on this machine; the message says what to do."""


def interpreter(python: str) -> Path:
    """The newest pyenv CPython `python`.x, e.g. 3.6 -> ~/.pyenv/versions/3.6.15/bin/python."""
    candidates = sorted(PYENV_VERSIONS.glob(f"{python}.*/bin/python"),
                        key=lambda path: int(path.parts[-3].split(".")[2]) if path.parts[-3].count(".") == 2 else -1)
    found = [path for path in candidates if path.parts[-3].replace(".", "").isdigit()]
    if not found:
        raise SetupMissing(f"CPython {python} is not installed under {PYENV_VERSIONS} (install it with "
                           f"`pyenv install {python}`; the Jetson program is tested on each JetPack's Python)")
    return found[-1]


def site(env: JetsonEnv) -> Path:
    return ENVS_ROOT / env.name


def _requirements_text(env: JetsonEnv) -> str:
    return (REPO_ROOT / env.requirements).read_text(encoding="utf-8")


def installed(env: JetsonEnv) -> bool:
    marker = site(env) / MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8") == _requirements_text(env)


def install(env: JetsonEnv) -> None:
    """pip-install the environment's requirements for its interpreter into its folder (binary wheels only)."""
    target = site(env)
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(interpreter(env.python)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-warn-script-location", "--only-binary=:all:", "--upgrade", "--target", str(target), "-r",
                    str(REPO_ROOT / env.requirements)], check=True, env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"})
    (target / MARKER).write_text(_requirements_text(env), encoding="utf-8")


def require(env: JetsonEnv) -> Path:
    """The interpreter of a ready environment; SetupMissing when the interpreter or its packages are missing."""
    python = interpreter(env.python)
    if not installed(env):
        raise SetupMissing(f"the {env.name} test environment (CPython {env.python}, numpy {env.numpy}) is not "
                           f"installed in {site(env)}: run `bash scripts/setup.sh --dev` (or `python3 -m "
                           f"tests.jetson_envs install`)")
    return python


def python_path(env: JetsonEnv, *, pycuda: bool) -> str:
    """PYTHONPATH for the program under `env`: the checkout (for `-m jetson_kit`), numpy, the fakes."""
    parts = [REPO_ROOT, site(env), FAKES / "shared", FAKES / env.tensorrt]
    if pycuda:
        parts.append(FAKES / "pycuda")
    return os.pathsep.join(str(part) for part in parts)


def main(argv: list[str]) -> int:
    if argv != ["install"]:
        print("usage: python3 -m tests.jetson_envs install", file=sys.stderr)
        return 2
    missing = []
    for env in ENVIRONMENTS.values():
        try:
            if not installed(env):
                print(f"installing the {env.name} test environment (CPython {env.python}, numpy {env.numpy})")
                install(env)
        except SetupMissing as error:
            missing.append(str(error))
    for line in missing:
        print(f"note: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
