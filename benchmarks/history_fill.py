"""A synthetic run history for the history benchmarks: runs of every kind, status, target (the rows of the
optimization targets table) and device, each with a few key metrics, written through the same import path a
device's exported history takes."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from core.optimize.formats import TARGETS
from db import queries
from db.engine import make_engine, session_scope
from db.migrate import upgrade_to_head

KINDS = ("train", "export", "optimize", "evaluation", "benchmark")
STATUSES = ("succeeded", "succeeded", "succeeded", "failed", "interrupted")
DEVICES = ("AMD EPYC", "NVIDIA H100", "Jetson Xavier NX")


def synthetic_records(runs: int, metrics: int) -> list[dict[str, Any]]:
    """`runs` runs, one a minute, spread over kinds, statuses, targets and devices, each with `metrics` metrics."""
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    records = []
    for index in range(runs):
        started = start + timedelta(minutes=index)
        target = TARGETS[index % len(TARGETS)]
        records.append({
            "uuid": str(uuid.uuid4()), "kind": KINDS[index % len(KINDS)], "status": STATUSES[index % len(STATUSES)],
            "started_at": started.isoformat(), "finished_at": (started + timedelta(seconds=42)).isoformat(),
            "params": {"target": target.name, "precision": target.precision, "weights": f"model-{index % 7}.pth",
                       "batch_size": 8}, "device": DEVICES[index % len(DEVICES)], "host": f"host-{index % 4}",
            "pid": None, "environment": {}, "parent_uuid": None, "error": None, "artifacts": [],
            "metrics": [{"name": f"metric_{number}", "value": index + number / 10, "unit": "ms", "epoch": None,
                         "class_name": None} for number in range(metrics)],
        })
    return records


def fill(url: str, *, runs: int, metrics: int) -> float:
    """Create the ledger at `url` and import `runs` synthetic runs into it; returns the seconds the import took."""
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        began = time.perf_counter()
        with session_scope(engine) as session:
            queries.import_records(session, records=synthetic_records(runs, metrics))
        return time.perf_counter() - began
    finally:
        engine.dispose()
