#!/usr/bin/env bash
# Set up and start the demo: the dashboard on all interfaces (port 8501) with the embedded demo defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "dashboard: http://$(hostname -I 2>/dev/null | awk '{print $1}' || echo localhost):8501"
exec python3 -m streamlit run dashboard/app.py --server.address 0.0.0.0 --server.port "${EDS_PORT:-8501}"
