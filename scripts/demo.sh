#!/usr/bin/env bash
# Set up and start the demo: our own RTP sender (H.265, the Jetson's caps) on the demo scene, and the dashboard on
# all interfaces (port 8501) with the embedded defaults: demo weights, demo stream, demo dataset on first visit.
# The dashboard serves HTTPS with a self-signed certificate made on first use (EDS_TLS=off: plain HTTP) and asks for
# a password: on first start one is generated and printed with a one-time login URL (EDS_AUTH=off: no password).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
for runs in assets/demo/*runs*.jsonl; do  # the demo model's recorded runs: training, optimize (idempotent)
    python3 -m core runs import "$runs" >/dev/null
done
address="${EDS_ADDRESS:-0.0.0.0}"
port="${EDS_PORT:-8501}"
host="$address"
if [ "$address" = "0.0.0.0" ]; then host="$(hostname -I 2>/dev/null | awk '{print $1}')"; fi
scheme=http
tls=()
if [ "${EDS_TLS:-on}" != "off" ]; then
    read -r cert key < <(python3 -m core auth certificate)
    tls=(--server.sslCertFile "$cert" --server.sslKeyFile "$key")
    scheme=https
fi
if [ "${EDS_AUTH:-on}" != "off" ]; then
    python3 -m core auth startup --url "$scheme://${host:-localhost}:$port"
fi
python3 -m core send --source demo: --codec h265 --host 127.0.0.1 --port "${EDS_DEMO_PORT:-5000}" &
sender=$!
trap 'kill "$sender" 2>/dev/null || true' EXIT INT TERM
echo "dashboard: $scheme://${host:-localhost}:$port  (demo stream on udp/${EDS_DEMO_PORT:-5000})"
python3 -m streamlit run dashboard/app.py --server.address "$address" --server.port "$port" "${tls[@]}"
