#!/usr/bin/env bash
# Install the benchmark's peer, pytorch-ssd at a pinned commit, under the data root (never into the runtime).
# PYTORCH_SSD_ARCHIVE=/path/to/<commit>.tar.gz uses a local copy of the GitHub archive instead of downloading it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m benchmarks.peer install "$@"
