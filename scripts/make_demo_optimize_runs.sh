#!/usr/bin/env bash
# How assets/demo/optimize-runs-*.jsonl were made: `core optimize` on the demo weights over a fresh synthetic dataset
# (a seed the weights never saw), in a run history of its own, exported for `runs import` (scripts/demo.sh imports
# every such file, so a fresh demo's Runs and Compare pages show them).
#   scripts/make_demo_optimize_runs.sh OUT.jsonl [TARGETS]     e.g. on a GPU: torch-fp32,torch-fp16,torch-bf16,ort-fp32
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: make_demo_optimize_runs.sh OUT.jsonl [TARGETS]}
targets=${2:-torch-fp32,ort-fp32,ort-int8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export EDS_DATA_ROOT="$work"
unset EDS_DB_URL
python3 -m core dataset synth "$work/shapes" --images "${IMAGES:-1000}" --seed 2026 >/dev/null
python3 -m core optimize --weights assets/demo/mb1-ssd-demo-fp16.pth --labels assets/demo/labels.txt \
  --data "$work/shapes" --targets "$targets" --no-progress
python3 -m core runs export --jsonl "$out"
# artifact paths relative to the checkout and the work folder, so the file names no machine's folders
sed -i "s#\"$PWD/#\"#g; s#\"$work/#\"#g" "$out"
