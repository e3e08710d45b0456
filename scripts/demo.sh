#!/usr/bin/env bash
# Set up and start the demo: the dashboard on all interfaces (port 8501) with the embedded defaults: demo weights,
# demo stream (drawn inside the app only while someone watches it), demo dataset on first visit. No UDP port is
# taken: udp/5000 stays free for a real Jetson. EDS_DEMO_RTP_PORT=PORT also starts our own RTP sender (H.265, the
# Jetson's caps) on the demo scene to 127.0.0.1:PORT, to try the RTP path (a configured stream on that port).
# The dashboard serves HTTPS with a self-signed certificate made on first use (EDS_TLS=off: plain HTTP) and asks for
# a password: on first start one is generated and printed with a one-time login URL (EDS_AUTH=off: no password).
# The server prints its address with the certificate's SHA-256 fingerprint as it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
for runs in assets/demo/*runs*.jsonl; do  # the demo model's recorded runs: training, optimize (idempotent)
    python3 -m core runs import "$runs" >/dev/null
done
address="${EDS_ADDRESS:-0.0.0.0}"
port="${EDS_PORT:-8501}"
tls=()
if [ "${EDS_TLS:-on}" != "off" ]; then
    read -r cert key < <(python3 -m core auth certificate)
    tls=(--server.sslCertFile "$cert" --server.sslKeyFile "$key")
fi
if [ -n "${EDS_DEMO_RTP_PORT:-}" ]; then
    python3 -m core send --source demo: --codec h265 --host 127.0.0.1 --port "$EDS_DEMO_RTP_PORT" &
    sender=$!
    trap 'kill "$sender" 2>/dev/null || true' EXIT INT TERM
    echo "demo RTP sender: H.265 to udp/$EDS_DEMO_RTP_PORT on 127.0.0.1"
fi
python3 -m streamlit run dashboard/app.py --server.address "$address" --server.port "$port" "${tls[@]}"
