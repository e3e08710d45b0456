#!/usr/bin/env bash
# How the demo weights in assets/demo were made: train mb1-ssd from scratch on the synthetic demo dataset on a GPU,
# evaluate on its test split, and store the weights as an fp16 state_dict (half the size) with labels.txt.
#   scripts/make_demo_weights.sh OUT_DIR [EPOCHS] [TIME_LIMIT_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: make_demo_weights.sh OUT_DIR [EPOCHS] [TIME_LIMIT_SECONDS]}
epochs=${2:-120}
limit=${3:-420}
work=${EDS_DATA_ROOT:-data}/demo-training
mkdir -p "$out" "$work"
python3 -m core dataset synth "$work/synthetic" --images "${IMAGES:-4000}" --seed 0 --overwrite \
  --workers "${WORKERS:-12}"
# SIGINT at the time limit: training stops like Ctrl-C, keeping the last good checkpoint (the run is 'interrupted').
timeout -s INT "$limit" python3 -m core train --data "$work/synthetic" --output "$work/model" --epochs "$epochs" \
  --batch-size 64 --lr 0.02 --workers "${WORKERS:-12}" --validation-epochs 10 --seed 0 | tee "$out/train.json" || true
checkpoint=$(ls -t "$work"/model/mb1-ssd-Epoch-*.pth | head -n 1)
python3 -m core evaluate --weights "$checkpoint" --labels "$work/model/labels.txt" --data "$work/synthetic" \
  --split test --batch-size 64 --no-progress --json "$out/evaluation.json"
python3 - "$checkpoint" "$work/model/labels.txt" "$out" <<'PY'
import shutil, sys
from pathlib import Path
from core.model import load_model
from core.model.checkpoint import save_state_dict
checkpoint, labels, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
save_state_dict(load_model(checkpoint, labels).network, out / "mb1-ssd-demo-fp16.pth", half=True)
shutil.copy(labels, out / "labels.txt")
shutil.copy(checkpoint.parent / "metrics.jsonl", out / "metrics.jsonl")
print("demo weights from", checkpoint.name)
PY
