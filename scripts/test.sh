#!/usr/bin/env bash
# Set up and run the whole test suite (unit, integration on 127.0.0.1, browser tests in headless chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
exec python3 -m pytest -q "$@"
