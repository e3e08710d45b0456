#!/usr/bin/env bash
# Set up and start the demo: our own RTP sender (H.265, the Jetson's caps) on the demo scene, and the dashboard on
# all interfaces (port 8501) with the embedded defaults: demo weights, demo stream, demo dataset on first visit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m core runs import assets/demo/training-runs.jsonl >/dev/null  # the demo model's recorded runs (idempotent)
python3 -m core send --source demo: --codec h265 --host 127.0.0.1 --port "${EDS_DEMO_PORT:-5000}" &
sender=$!
trap 'kill "$sender" 2>/dev/null || true' EXIT INT TERM
echo "dashboard: http://$(hostname -I 2>/dev/null | awk '{print $1}'):${EDS_PORT:-8501}  (demo stream on udp/${EDS_DEMO_PORT:-5000})"
python3 -m streamlit run dashboard/app.py --server.address "${EDS_ADDRESS:-0.0.0.0}" --server.port "${EDS_PORT:-8501}"
