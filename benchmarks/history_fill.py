"""A synthetic run history for the history benchmarks: runs of every kind, status, target (the rows of the
optimization targets table) and device, each with a few key metrics (the optimize ones first), the optimize runs
grouped into invocations as `core optimize` records them; written through the history's import, the path a device's
exported history takes."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from core.ledger import History, RunKind
from core.optimize.formats import TARGETS

KINDS = (RunKind.TRAIN, RunKind.EXPORT, RunKind.OPTIMIZE, RunKind.EVALUATION, RunKind.BENCHMARK)
STATUSES = ("succeeded", "succeeded", "succeeded", "failed", "interrupted")
DEVICES = ("AMD EPYC", "NVIDIA H100", "Jetson Xavier NX")
INVOCATION_SPAN = 40  # consecutive runs whose optimize runs share one optimize_id (8 targets each)
# The first metrics of every run are those `core optimize` records (so the comparison table has its columns).
METRIC_NAMES = ("map50", "coco_map", "latency_p50_ms", "end_to_end_640x480_ms", "throughput_b8", "model_bytes")


def _metric(index: int, number: int) -> dict[str, Any]:
    name = METRIC_NAMES[number] if number < len(METRIC_NAMES) else f"metric_{number}"
    value = 0.5 + (index % 50) / 100 if number < 2 else index % 97 + number / 10
    return {"name": name, "value": value, "unit": "ms", "epoch": None, "class_name": None}


def synthetic_records(runs: int, metrics: int) -> list[dict[str, Any]]:
    """`runs` runs, one a minute, spread over kinds, statuses, targets and devices, each with `metrics` metrics."""
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    records = []
    for index in range(runs):
        started = start + timedelta(minutes=index)
        target = TARGETS[index % len(TARGETS)]
        kind = KINDS[index % len(KINDS)]
        params: dict[str, Any] = {"target": target.name, "precision": target.precision,
                                  "weights": f"model-{index % 7}.pth", "batch_size": 8}
        if kind == RunKind.OPTIMIZE:
            params.update(optimize_id=f"invocation-{index // INVOCATION_SPAN}", reference=target.reference)
        records.append({
            "uuid": str(uuid.uuid4()), "kind": str(kind), "status": STATUSES[index % len(STATUSES)],
            "started_at": started.isoformat(), "finished_at": (started + timedelta(seconds=42)).isoformat(),
            "params": params, "device": DEVICES[index % len(DEVICES)], "host": f"host-{index % 4}",
            "pid": None, "environment": {}, "parent_uuid": None, "error": None, "artifacts": [],
            "metrics": [_metric(index, number) for number in range(metrics)],
        })
    return records


def fill(history: History, *, runs: int, metrics: int) -> float:
    """Import `runs` synthetic runs into `history`; returns the seconds the import took."""
    records = synthetic_records(runs, metrics)
    began = time.perf_counter()
    history.import_records(records)
    return time.perf_counter() - began
