#!/usr/bin/env bash
# On a Jetson (JetPack): build and measure the TensorRT targets (trt-fp32, trt-fp16, trt-int8) of a model, run the
# hardware-decode receiver on a local H.265 test stream, and write the recorded runs (with the device's model,
# L4T/JetPack, power mode and clocks) to a JSONL file that `python -m core runs import FILE` merges elsewhere.
#
#   bash scripts/jetson.sh [--weights W.pth --labels labels.txt] [--data DIR] [--out DIR] [--seconds N] [--port P]
#
# Defaults: the demo weights, a synthetic demo dataset made on first use, out=jetson-out, 10 s of receiving on
# UDP port 5600. Run `sudo -v` first to record the clocks (`jetson_clocks --show` needs root; it is never prompted).
# PYTHON selects the interpreter (default python3): it must import the project and JetPack's tensorrt and pycuda.
set -euo pipefail

PYTHON="${PYTHON:-python3}"

# Highest ONNX opset the ONNX parser of a TensorRT version takes (its release notes); our graph needs 11.
opset_for_tensorrt() {
    case "$1" in
        [0-7].*) echo 11 ;;
        8.[0-3].*) echo 13 ;;
        *) echo 17 ;;  # 8.4-8.6 take 17; 10.x takes 17 and more
    esac
}

note() { printf '[jetson] %s\n' "$*" >&2; }
fail() { note "error: $*"; exit 1; }

tensorrt_version() {
    "$PYTHON" -c 'import tensorrt; print(tensorrt.__version__)' 2>/dev/null ||
        dpkg-query -W -f='${Version}\n' tensorrt 2>/dev/null | head -n1
}

check_requirements() {
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        fail "$PYTHON is $("$PYTHON" -V 2>&1); the project needs Python 3.11+ (set PYTHON=...)"
    "$PYTHON" -c 'import core' 2>/dev/null || fail "$PYTHON cannot import the project: run scripts/setup.sh first"
    "$PYTHON" -c 'import tensorrt' 2>/dev/null ||
        fail "$PYTHON cannot import tensorrt (JetPack installs it for its system Python: python3-libnvinfer)"
    "$PYTHON" -c 'import pycuda.driver' 2>/dev/null || fail "$PYTHON cannot import pycuda: pip install pycuda"
    if gst-inspect-1.0 nvv4l2decoder >/dev/null 2>&1 && gst-inspect-1.0 nvv4l2h265enc >/dev/null 2>&1; then
        hardware_video=1
    else
        hardware_video=0
        note "GStreamer's nvv4l2decoder/nvv4l2h265enc are missing: the hardware-decode receiver is skipped"
    fi
}

# A camera-free H.265 RTP test stream from the hardware encoder, to the receiver on this machine.
start_test_stream() {
    gst-launch-1.0 -q videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=480,framerate=30/1 \
        ! nvvidconv ! 'video/x-raw(memory:NVMM),format=I420' ! nvv4l2h265enc insert-vui=1 iframeinterval=30 \
        ! h265parse ! rtph265pay config-interval=1 pt=96 ! udpsink host=127.0.0.1 port="$port" sync=false \
        >/dev/null 2>&1 &
    sender=$!
}

stop_test_stream() {
    if [ -n "${sender:-}" ]; then
        kill "$sender" 2>/dev/null || true
        wait "$sender" 2>/dev/null || true
        sender=
    fi
}

run_receiver() {
    local pipeline engine detect=()
    pipeline="$("$PYTHON" -c "from core.stream.pipelines import receive_pipeline as p; print(p(port=$port))")"
    engine="$(find "$out/artifacts" -name '*-fp16-*.engine' 2>/dev/null | head -n1)"
    if [ -n "$engine" ]; then
        detect=(--detect --backend tensorrt --weights "$engine" --labels "$labels")
    fi
    start_test_stream
    trap stop_test_stream EXIT
    "$PYTHON" -m core receive "gst:$pipeline" ${detect[@]+"${detect[@]}"} --duration "$seconds" --json \
        >"$out/receive.json" || note "the receiver failed (see above); continuing"
    stop_test_stream
    note "receiver summary: $out/receive.json"
}

main() {
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
    weights="$root/assets/demo/mb1-ssd-demo-fp16.pth" labels="$root/assets/demo/labels.txt" data= out="$PWD/jetson-out"
    seconds=10 port=5600
    while [ $# -gt 0 ]; do
        case "$1" in
            --weights) weights="$2"; shift 2 ;;
            --labels) labels="$2"; shift 2 ;;
            --data) data="$2"; shift 2 ;;
            --out) out="$2"; shift 2 ;;
            --seconds) seconds="$2"; shift 2 ;;
            --port) port="$2"; shift 2 ;;
            -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}"; exit 0 ;;
            *) fail "unknown option $1 (see --help)" ;;
        esac
    done
    [ -r /proc/device-tree/model ] && grep -qi jetson /proc/device-tree/model ||
        note "this does not look like a Jetson; continuing anyway"
    check_requirements
    mkdir -p "$out"
    local version opset
    version="$(tensorrt_version)"
    opset="$(opset_for_tensorrt "$version")"
    note "TensorRT $version: exporting ONNX at opset $opset"
    if [ -z "$data" ]; then
        data="$out/demo-data"
        [ -d "$data" ] || "$PYTHON" -m core dataset synth "$data" --images 300
    fi
    "$PYTHON" -m core optimize --weights "$weights" --labels "$labels" --data "$data" \
        --targets trt-fp32,trt-fp16,trt-int8 --opset "$opset" --output "$out/artifacts"
    if [ "$hardware_video" = 1 ]; then
        run_receiver
    fi
    "$PYTHON" -m core report optimize >"$out/optimize.md" || note "no optimize report"
    "$PYTHON" -m core runs export --jsonl "$out/jetson-runs.jsonl"
    note "done: copy $out/jetson-runs.jsonl to the laptop and run: python -m core runs import jetson-runs.jsonl"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
