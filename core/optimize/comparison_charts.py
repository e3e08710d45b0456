"""What the Compare page charts, as plain frames: throughput against the accuracy figure that differs between the runs
(with its Pareto front), per-class AP and its deltas against each device's base, and axis ranges zoomed to the data.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from core.optimize.comparison import ComparedRun, device_bases, sort_key

ACCURACY_KEYS = {"mAP@0.5": "map50", "COCO mAP": "coco_map"}  # chart label -> ComparedRun.value key, in preference
AXIS_MARGIN = 0.15  # of the data's span, on each side
SMALLEST_SPAN = 0.002  # an axis over equal values still spans this much, centred on them


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For each (throughput, accuracy) point, whether no other point is at least as good on both and better on one."""
    def dominated(index: int) -> bool:
        x, y = points[index]
        return any(ox >= x and oy >= y and (ox > x or oy > y) for other, (ox, oy) in enumerate(points)
                   if other != index)

    return [not dominated(index) for index in range(len(points))]


def _largest_difference(runs: Sequence[ComparedRun], key: str) -> float:
    """The largest difference of one figure between runs of the same device (what a Δ column shows)."""
    groups: dict[str, list[float]] = {}
    for run in runs:
        if (value := run.value(key)) is not None:
            groups.setdefault(run.device, []).append(value)
    return max((max(values) - min(values) for values in groups.values()), default=0.0)


def accuracy_label(runs: Sequence[ComparedRun]) -> str:
    """The accuracy figure worth charting: the one that differs most between runs of the same device (mAP@0.5 on a
    tie, e.g. when every run scores the same)."""
    spreads = {label: _largest_difference(runs, key) for label, key in ACCURACY_KEYS.items()}
    first = next(iter(ACCURACY_KEYS))
    return max(spreads, key=lambda label: (round(spreads[label], 9), label == first))


def tradeoff_frame(runs: Sequence[ComparedRun], accuracy: str = "mAP@0.5") -> pd.DataFrame:
    """Best throughput vs `accuracy` per run with the Pareto front marked (runs lacking either are left out)."""
    key = ACCURACY_KEYS[accuracy]
    measured = [run for run in sorted(runs, key=sort_key)
                if run.best_throughput is not None and run.value(key) is not None]
    front = pareto_front([(run.best_throughput, run.value(key)) for run in measured])  # type: ignore[misc]
    return pd.DataFrame([{"run": run.label, "target": run.target, "device": run.device,
                          "images/sec": run.best_throughput, accuracy: run.value(key), "Pareto front": best}
                         for run, best in zip(measured, front)],
                        columns=["run", "target", "device", "images/sec", accuracy, "Pareto front"])


def axis_range(values: Sequence[float], *, low: float | None = None, high: float | None = None) -> list[float]:
    """An axis over the data's range with a margin on each side (at least SMALLEST_SPAN wide), kept within
    [low, high] where given (a score never below 0 nor above 1)."""
    finite = [value for value in values if value is not None and not pd.isna(value)]
    if not finite:
        return [low if low is not None else 0.0, high if high is not None else 1.0]
    smallest, largest = min(finite), max(finite)
    margin = max((largest - smallest) * AXIS_MARGIN, SMALLEST_SPAN / 2)
    start, end = smallest - margin, largest + margin
    if low is not None:
        start = max(start, low)
    if high is not None:
        end = min(end, high)
    return [start, end]


def class_ap_long(runs: Sequence[ComparedRun], accuracy: str = "mAP@0.5") -> pd.DataFrame:
    """Per-class AP (AP@0.5, or COCO AP for accuracy "COCO mAP") as long rows (class, run, AP) for a grouped bar
    chart."""
    return pd.DataFrame([{"class": name, "run": run.label, "AP": value} for run in sorted(runs, key=sort_key)
                         for name, value in sorted(_class_values(run, accuracy).items())],
                        columns=["class", "run", "AP"])


def _class_values(run: ComparedRun, accuracy: str) -> dict[str, float]:
    return run.class_ap if accuracy == "mAP@0.5" else run.class_coco_ap


def class_ap_deltas(base: ComparedRun | None, runs: Sequence[ComparedRun], accuracy: str = "mAP@0.5") -> pd.DataFrame:
    """Per-class ΔAP (AP@0.5, or COCO AP for accuracy "COCO mAP") of each run against its device's base (see
    `comparison.device_bases`), as long rows (class, run, base, ΔAP); the bases themselves are left out."""
    bases = device_bases(runs, base)
    rows = []
    for run in sorted(runs, key=sort_key):
        reference = bases.get(run.device)
        if reference is None or reference.id == run.id:
            continue
        before = _class_values(reference, accuracy)
        rows += [{"class": name, "run": run.label, "base": reference.label, "ΔAP": value - before[name]}
                 for name, value in sorted(_class_values(run, accuracy).items()) if name in before]
    return pd.DataFrame(rows, columns=["class", "run", "base", "ΔAP"])
