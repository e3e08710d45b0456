#!/usr/bin/env bash
# Install what the project needs on a fresh Debian 12 machine with Python 3.11 and pip.
#   scripts/setup.sh          runtime only (Python packages + streaming tools)
#   scripts/setup.sh --dev    plus test tools (chromium for browser tests, PostgreSQL for the fleet DB test)
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_RUNTIME=(ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
                gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
                gstreamer1.0-x)  # the X video sinks (xvimagesink, ximagesink), so the explainer knows them
DEBIAN_DEV=(chromium postgresql python3-gi gir1.2-gst-rtsp-server-1.0  # the last two: the RTSP test server
            gcc libc6-dev)  # the Jetson program's tests build a fake libcudart
packages=("${DEBIAN_RUNTIME[@]}")
requirements=requirements.txt
if [[ "${1:-}" == "--dev" ]]; then
  packages+=("${DEBIAN_DEV[@]}")
  requirements=requirements-dev.txt
fi

if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if ((${#missing[@]})); then
    sudo_cmd=(); [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
else
  echo "note: not a Debian system; install ${packages[*]} with your package manager" >&2
fi

python3 -m pip install -q --disable-pip-version-check -r "$requirements"
if [[ "${1:-}" == "--dev" ]]; then  # Triton serving and its tests: pinned set, no resolution (see the file's header)
  python3 -m pip install -q --disable-pip-version-check --no-deps -r requirements-triton.txt
  # the Jetson program's tests: each JetPack's numpy for pyenv's CPython 3.6, 3.8 and 3.10 (requirements-jetson*.txt)
  python3 -m tests.jetson_envs install
fi
