#!/usr/bin/env bash
# On a Jetson: run the Jetson program (jetson_kit/) with JetPack's own system Python, numpy and TensorRT.
#
#   bash scripts/jetson.sh check                                   what this Jetson has, and what is missing
#   bash scripts/jetson.sh all --bundle BUNDLE --out jetson-out    build, bench and eval the bundle's engines
#   bash scripts/jetson.sh build|bench|eval ...                    one step at a time
#   bash scripts/jetson.sh train-time --data DIR [--epochs 3]      time pytorch-ssd's train_ssd.py
#   bash scripts/jetson.sh stream --bundle BUNDLE                  camera -> H.265 RTP to the server
#   bash scripts/jetson.sh COMMAND --help
#
# BUNDLE is the folder `python -m core jetson pack` wrote on the server; copy jetson-out back and run
# `python -m core jetson import jetson-out` there. PYTHON selects the interpreter (default python3, the one JetPack
# builds its tensorrt module for). Run `sudo -v` first to record the clocks (`jetson_clocks --show` needs root; the
# program never prompts).
set -euo pipefail

PYTHON="${PYTHON:-python3}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    printf '[jetson] error: %s not found (set PYTHON=... to JetPack'"'"'s python3)\n' "$PYTHON" >&2
    exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 6))' 2>/dev/null; then
    printf '[jetson] error: %s is %s; the Jetson program needs Python 3.6 or later (JetPack 4.4 has 3.6)\n' \
        "$PYTHON" "$("$PYTHON" -V 2>&1)" >&2
    exit 2
fi
if [ $# -eq 0 ]; then
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m jetson_kit "$@"
