"""Optimization results side by side: the comparison table (size, latency, throughput, mAP, ΔmAP, speed-up vs a
base run), per-class AP with deltas, the Pareto front of throughput vs mAP, and the table as Markdown.

Pure logic over plain values, shared by the Compare page and reports; the metric names recorded by `core optimize`
and `core evaluate` live in `METRIC_NAMES`, `THROUGHPUT_METRIC` and `INVOCATION_PARAM` only, so a rename there is
a one-line change.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.optimize.formats import TARGETS

if TYPE_CHECKING:
    from db.queries import MetricRow, RunRow

OPTIMIZE_KIND = "optimize"
COMPARED_KINDS = (OPTIMIZE_KIND, "evaluation")  # an evaluation is a measured model too (backend + precision)
BASE_PRECISION = "fp32"
INVOCATION_PARAM = "optimize_id"  # shared by the runs of one `core optimize` command
METRIC_NAMES = {  # column key -> metric name in the ledger (summary metrics unless noted)
    "size_bytes": "model_bytes",
    "latency_p50_ms": "latency_p50_ms",
    "latency_p95_ms": "latency_p95_ms",
    "e2e_ms": "end_to_end_640x480_ms",
    "images_per_sec": "images_per_sec",  # evaluation runs: the whole split at their batch size
    "map50": "map50",
    "coco_map": "coco_map",
    "class_ap50": "ap50",  # per class (class_name set)
}
THROUGHPUT_METRIC = re.compile(r"^throughput_b(\d+)$")  # images/sec at batch size N
SPEEDUP_BY = ("e2e_ms", "latency_p50_ms")  # speed-up from the first time both runs have, else from throughput
_TARGET_ORDER = {target.name: index for index, target in enumerate(TARGETS)}
_TARGET_BY_BACKEND = {(target.backend, target.precision): target.name for target in TARGETS}


@dataclass(frozen=True)
class ComparedRun:
    """One measured model: a run's identity, where it ran, its summary metrics and its per-class AP@0.5."""

    id: int
    kind: str
    target: str
    precision: str | None
    model: str
    device: str
    host: str
    invocation: str  # the command that recorded the run: its optimize_id, else its host and process
    started_at: datetime
    metrics: dict[str, float] = field(default_factory=dict)
    class_ap: dict[str, float] = field(default_factory=dict)

    def value(self, key: str) -> float | None:
        return self.metrics.get(METRIC_NAMES[key])

    @property
    def throughputs(self) -> dict[int, float]:
        """Images/sec by batch size."""
        found = {int(match.group(1)): value for name, value in self.metrics.items()
                 if (match := THROUGHPUT_METRIC.match(name))}
        return dict(sorted(found.items()))

    @property
    def best_throughput(self) -> float | None:
        values = list(self.throughputs.values()) or [v for v in [self.value("images_per_sec")] if v is not None]
        return max(values) if values else None

    @property
    def label(self) -> str:
        return f"#{self.id} {self.target}"


def target_of(params: dict[str, Any]) -> str:
    """The optimization target a run measured: its `target` parameter, else named from backend and precision."""
    if params.get("target"):
        return str(params["target"])
    backend, precision = params.get("backend"), params.get("precision")
    return _TARGET_BY_BACKEND.get((backend, precision), f"{backend or '?'}-{precision or '?'}")


UNKNOWN_MODEL = "(no weights recorded)"


def model_of(weights: str | None) -> str:
    """The model a run measured, the same for its .pth and its exported .onnx: the weights' file stem."""
    return PurePath(weights).stem if weights else UNKNOWN_MODEL


def compared_run(run: RunRow, metrics: Iterable[MetricRow]) -> ComparedRun:
    """A `ComparedRun` from a listing row and its metric rows."""
    summary: dict[str, float] = {}
    class_ap: dict[str, float] = {}
    for metric in metrics:
        if metric.epoch is not None:
            continue
        if metric.class_name is None:
            summary[metric.name] = metric.value  # a later value of the same name wins
        elif metric.name == METRIC_NAMES["class_ap50"]:
            class_ap[metric.class_name] = metric.value
    invocation = str(run.params.get(INVOCATION_PARAM) or f"{run.host}/{run.pid}")
    return ComparedRun(run.id, run.kind, target_of(run.params), run.params.get("precision"), model_of(run.model),
                       run.device, run.host, invocation, run.started_at, summary, class_ap)


def sort_key(run: ComparedRun) -> tuple[str, str, int, str, int]:
    """Grouped by device and host, then in the targets table's order."""
    return run.device, run.host, _TARGET_ORDER.get(run.target, len(_TARGET_ORDER)), run.target, run.id


def _newest(runs: Iterable[ComparedRun]) -> ComparedRun:
    return max(runs, key=lambda run: (run.started_at, run.id))


def default_selection(runs: Sequence[ComparedRun]) -> list[ComparedRun]:
    """The runs of the latest `optimize` command (the newest optimize run's invocation), beside the newest
    invocation's runs of the same model on every other device (a Jetson's imported rows beside the server's);
    without optimize runs, the newest run of each target and device for the newest run's model."""
    if not runs:
        return []
    optimized = [run for run in runs if run.kind == OPTIMIZE_KIND]
    if optimized:
        newest = _newest(optimized)
        chosen = [run for run in optimized if run.invocation == newest.invocation]
        same_model = [run for run in optimized if run.model == newest.model]
        for device in sorted({run.device for run in same_model} - {run.device for run in chosen}):
            on_device = [run for run in same_model if run.device == device]
            latest = _newest(on_device)
            chosen += [run for run in on_device if run.invocation == latest.invocation]
    else:
        newest = _newest(runs)
        latest: dict[tuple[str, str], ComparedRun] = {}
        for run in sorted(runs, key=lambda run: (run.started_at, run.id)):
            if run.model == newest.model:
                latest[(run.target, run.device)] = run
        chosen = list(latest.values())
    return sorted(chosen, key=sort_key)


def default_base(runs: Sequence[ComparedRun]) -> ComparedRun | None:
    """The FP32 run first in the targets table's order (torch-fp32 before ort-fp32), else the first run."""
    ordered = sorted(runs, key=lambda run: (_TARGET_ORDER.get(run.target, len(_TARGET_ORDER)), run.id))
    fp32 = [run for run in ordered if run.precision == BASE_PRECISION]
    return (fp32 or ordered or [None])[0]


def speedup(base: ComparedRun, run: ComparedRun) -> float | None:
    """How many times faster than the base: by end-to-end or p50 latency when both have it, else by throughput."""
    for key in SPEEDUP_BY:
        base_time, time = base.value(key), run.value(key)
        if base_time and time:
            return base_time / time
    base_speed, speed = base.best_throughput, run.best_throughput
    return speed / base_speed if base_speed and speed else None


def _difference(value: float | None, reference: float | None) -> float | None:
    return None if value is None or reference is None else value - reference


# Column -> "max" or "min": which end is best (the page highlights it).
BEST = {"size MB": "min", "latency p50 ms": "min", "latency p95 ms": "min", "end-to-end ms": "min",
        "mAP@0.5": "max", "COCO mAP": "max", "speed-up": "max"}
THROUGHPUT_COLUMN = "img/s bs{}"
EVALUATION_THROUGHPUT_COLUMN = "img/s (evaluation)"


def comparison_table(base: ComparedRun, runs: Sequence[ComparedRun]) -> pd.DataFrame:
    """One row per run (base included, grouped by device): size, latency, throughput per batch size, mAP,
    ΔmAP and speed-up vs `base`. Columns no run has are left out."""
    batch_sizes = sorted({size for run in runs for size in run.throughputs})
    rows = []
    for run in sorted(runs, key=sort_key):
        size = run.value("size_bytes")
        row: dict[str, Any] = {
            "run": run.id, "target": run.target, "device": run.device, "host": run.host,
            "size MB": None if size is None else size / 1e6,
            "latency p50 ms": run.value("latency_p50_ms"), "latency p95 ms": run.value("latency_p95_ms"),
            "end-to-end ms": run.value("e2e_ms"),
            **{THROUGHPUT_COLUMN.format(size): run.throughputs.get(size) for size in batch_sizes},
            EVALUATION_THROUGHPUT_COLUMN: None if run.throughputs else run.value("images_per_sec"),
            "mAP@0.5": run.value("map50"), "COCO mAP": run.value("coco_map"),
            "ΔmAP@0.5": _difference(run.value("map50"), base.value("map50")),
            "ΔCOCO mAP": _difference(run.value("coco_map"), base.value("coco_map")),
            "speed-up": speedup(base, run),
        }
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.dropna(axis="columns", how="all") if not frame.empty else frame


def best_columns(frame: pd.DataFrame) -> dict[str, list[str]]:
    """The table's columns whose best value is the largest ("max") or the smallest ("min")."""
    throughput = [column for column in frame.columns if column.startswith("img/s")]
    present = {column: way for column, way in BEST.items() if column in frame.columns}
    return {"max": [c for c, way in present.items() if way == "max"] + throughput,
            "min": [c for c, way in present.items() if way == "min"]}


def class_ap_table(base: ComparedRun, runs: Sequence[ComparedRun]) -> pd.DataFrame:
    """Per-class AP@0.5: one row per class, an AP column per run and a Δ column per run other than the base."""
    classes = sorted({name for run in [base, *runs] for name in run.class_ap})
    table: dict[str, list[Any]] = {"class": classes}
    for run in sorted(runs, key=sort_key):
        table[f"AP {run.label}"] = [run.class_ap.get(name) for name in classes]
        if run.id != base.id:
            table[f"Δ {run.label}"] = [_difference(run.class_ap.get(name), base.class_ap.get(name))
                                       for name in classes]
    return pd.DataFrame(table)


def class_ap_long(runs: Sequence[ComparedRun]) -> pd.DataFrame:
    """Per-class AP@0.5 as long rows (class, run, AP) for a grouped bar chart."""
    return pd.DataFrame([{"class": name, "run": run.label, "AP@0.5": value}
                         for run in sorted(runs, key=sort_key) for name, value in sorted(run.class_ap.items())],
                        columns=["class", "run", "AP@0.5"])


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For each (throughput, mAP) point, whether no other point is at least as good on both and better on one."""
    def dominated(index: int) -> bool:
        x, y = points[index]
        return any(ox >= x and oy >= y and (ox > x or oy > y) for other, (ox, oy) in enumerate(points)
                   if other != index)

    return [not dominated(index) for index in range(len(points))]


def tradeoff_frame(runs: Sequence[ComparedRun]) -> pd.DataFrame:
    """Best throughput vs mAP@0.5 per run with the Pareto front marked (runs lacking either are left out)."""
    measured = [run for run in sorted(runs, key=sort_key)
                if run.best_throughput is not None and run.value("map50") is not None]
    front = pareto_front([(run.best_throughput, run.value("map50")) for run in measured])  # type: ignore[misc]
    return pd.DataFrame([{"run": run.label, "target": run.target, "device": run.device,
                          "images/sec": run.best_throughput, "mAP@0.5": run.value("map50"), "Pareto front": best}
                         for run, best in zip(measured, front)],
                        columns=["run", "target", "device", "images/sec", "mAP@0.5", "Pareto front"])


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:+.4f}" if column.startswith("Δ") else f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """The frame as a GitHub Markdown table; numbers right-aligned, deltas signed, missing values as "-"."""
    columns = [str(column) for column in frame.columns]
    align = ["---:" if pd.api.types.is_numeric_dtype(frame[column]) else "---" for column in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_cell(column, value) for column, value in zip(columns, row)) + " |"
              for row in frame.astype(object).itertuples(index=False)]
    return "\n".join(lines)
