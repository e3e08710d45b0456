"""The comparison table of measured models, the one both `python -m core report optimize` and the Compare page show:
target, device, end-to-end time, speed-up, mAP and ΔmAP first, then size, latency, throughput per batch size.

One definition of each figure (see the README's "Optimize"):
- every device is its own group with its own base: the FP32 run first in the targets table's order among that
  device's runs (torch-fp32 before ort-fp32), unless the caller picks another base for that device;
- speed-up = the base's time / the run's time, by the first measure both runs have: end-to-end 640x480 `detect()`
  time (what a caller waits for on a camera frame, resize and NMS included), else p50 latency at batch 1, else the
  best images/sec (the Jetson's engines and `evaluate` runs record no end-to-end time);
- ΔmAP = the run's mAP - its base's mAP, from the two runs' own figures, so it is always against the base the table
  names (a run's recorded `delta_map50` is against the reference fixed when it was measured; the two agree when the
  base is that reference, since both are evaluated on the same images).

The runs are read through the history's door (`core.ledger.History`); the rest is pure logic over plain values.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any

import pandas as pd

from core.ledger import INVOCATION_PARAM, History, MetricRow, RunKind, RunRow
from core.optimize.formats import TARGETS

COMPARED_RUNS_LIMIT = 500  # the newest measured models the Compare page chooses from
INVOCATION_RUNS_LIMIT = 1000  # more than any optimize command (and its Jetson's rows) records
BASE_PRECISION = "fp32"
SUCCEEDED = "succeeded"
METRIC_NAMES = {  # column key -> metric name in the history (summary metrics unless noted)
    "size_bytes": "model_bytes",
    "latency_p50_ms": "latency_p50_ms",
    "latency_p95_ms": "latency_p95_ms",
    "e2e_ms": "end_to_end_640x480_ms",
    "images_per_sec": "images_per_sec",  # evaluation runs: the whole split at their batch size
    "map50": "map50",
    "coco_map": "coco_map",
    "class_ap50": "ap50",  # per class (class_name set)
    "class_coco_ap": "coco_ap",  # per class
}
THROUGHPUT_METRIC = re.compile(r"^throughput_b(\d+)$")  # images/sec at batch size N
SPEEDUP_BY = ("e2e_ms", "latency_p50_ms")  # speed-up from the first time both runs have, else from throughput
_TARGET_ORDER = {target.name: index for index, target in enumerate(TARGETS)}
_TARGET_BY_BACKEND = {(target.backend, target.precision): target.name for target in TARGETS}
UNKNOWN_MODEL = "(no weights recorded)"

# The columns one decides on, first; the others follow (the Compare page shows them on demand).
DECISION_COLUMNS = ("target", "device", "end-to-end ms", "speed-up", "mAP@0.5", "ΔmAP@0.5", "COCO mAP", "ΔCOCO mAP")
STATUS_COLUMN = "status"  # only when a row did not succeed (`report optimize`: failed and skipped targets)
THROUGHPUT_COLUMN = "img/s bs{}"
EVALUATION_THROUGHPUT_COLUMN = "img/s (evaluation)"
# Column -> "max" or "min": which end is best (best values are marked per device).
BEST = {"end-to-end ms": "min", "speed-up": "max", "mAP@0.5": "max", "COCO mAP": "max", "size MB": "min",
        "latency p50 ms": "min", "latency p95 ms": "min"}
# How each column's numbers read, in the Markdown and on the page; other numbers: 4 significant digits, Δ signed.
FORMATS = {"end-to-end ms": "{:.2f}", "latency p50 ms": "{:.2f}", "latency p95 ms": "{:.2f}", "speed-up": "{:.2f}x",
           "mAP@0.5": "{:.4f}", "COCO mAP": "{:.4f}", "size MB": "{:.1f}", "run": "{:.0f}"}
THROUGHPUT_FORMAT = "{:.0f}"
DELTA_FORMAT = "{:+.4f}"


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
    status: str = SUCCEEDED
    error: str | None = None
    class_coco_ap: dict[str, float] = field(default_factory=dict)

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


def model_of(weights: str | None) -> str:
    """The model a run measured, the same for its .pth and its exported .onnx: the weights' file stem."""
    return PurePath(weights).stem if weights else UNKNOWN_MODEL


def compared_run(run: RunRow, metrics: Iterable[MetricRow]) -> ComparedRun:
    """A `ComparedRun` from a listing row and its metric rows."""
    summary: dict[str, float] = {}
    per_class: dict[str, dict[str, float]] = {METRIC_NAMES["class_ap50"]: {}, METRIC_NAMES["class_coco_ap"]: {}}
    for metric in metrics:
        if metric.epoch is not None:
            continue
        if metric.class_name is None:
            summary[metric.name] = metric.value  # a later value of the same name wins
        elif metric.name in per_class:
            per_class[metric.name][metric.class_name] = metric.value
    invocation = str(run.params.get(INVOCATION_PARAM) or f"{run.host}/{run.pid}")
    return ComparedRun(run.id, run.kind, target_of(run.params), run.params.get("precision"), model_of(run.model),
                       run.device, run.host, invocation, run.started_at, summary,
                       per_class[METRIC_NAMES["class_ap50"]], run.status, run.error,
                       per_class[METRIC_NAMES["class_coco_ap"]])


def compared_runs(history: History, limit: int = COMPARED_RUNS_LIMIT) -> list[ComparedRun]:
    """The newest succeeded optimize and evaluation runs with their summary and per-class metrics."""
    return [compared_run(row, metrics) for row, metrics in history.measured_runs(limit=limit)]


def optimize_runs(history: History, *, run_id: int | None = None,
                  optimize_id: str | None = None) -> list[ComparedRun]:
    """Every run of one `optimize` command, in the order recorded: `optimize_id`'s, else the one that recorded
    `run_id`, else the newest."""
    invocation = optimize_id if optimize_id is not None else history.optimize_invocation(run_id)
    return [compared_run(row, metrics) for row, metrics in
            history.measured_runs(kinds=(RunKind.OPTIMIZE,), optimize_id=invocation, limit=INVOCATION_RUNS_LIMIT,
                                  oldest_first=True)]


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
    optimized = [run for run in runs if run.kind == RunKind.OPTIMIZE]
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
    """The succeeded FP32 run first in the targets table's order (torch-fp32 before ort-fp32), else the first
    succeeded run, else the first run."""
    ordered = sorted(runs, key=lambda run: (run.status != SUCCEEDED,
                                            _TARGET_ORDER.get(run.target, len(_TARGET_ORDER)), run.id))
    fp32 = [run for run in ordered if run.precision == BASE_PRECISION and run.status == SUCCEEDED]
    return (fp32 or ordered or [None])[0]


def device_bases(runs: Sequence[ComparedRun], chosen: ComparedRun | None = None) -> dict[str, ComparedRun]:
    """Each device's base: `chosen` for its own device, the device's `default_base` for every other."""
    groups: dict[str, list[ComparedRun]] = {}
    for run in runs:
        groups.setdefault(run.device, []).append(run)
    bases = {device: base for device, group in groups.items() if (base := default_base(group)) is not None}
    if chosen is not None:
        bases[chosen.device] = chosen
    return bases


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


def _status(run: ComparedRun) -> str:
    return run.status if run.status == SUCCEEDED or not run.error else f"{run.status}: {run.error}"


def _row(run: ComparedRun, base: ComparedRun | None, batch_sizes: list[int]) -> dict[str, Any]:
    size = run.value("size_bytes")
    measured = base is not None and run.status == SUCCEEDED
    return {
        "target": run.target, STATUS_COLUMN: _status(run), "device": run.device,
        "end-to-end ms": run.value("e2e_ms"), "speed-up": speedup(base, run) if measured else None,
        "mAP@0.5": run.value("map50"),
        "ΔmAP@0.5": _difference(run.value("map50"), base.value("map50")) if measured else None,
        "COCO mAP": run.value("coco_map"),
        "ΔCOCO mAP": _difference(run.value("coco_map"), base.value("coco_map")) if measured else None,
        "size MB": None if size is None else size / 1e6,
        "latency p50 ms": run.value("latency_p50_ms"), "latency p95 ms": run.value("latency_p95_ms"),
        **{THROUGHPUT_COLUMN.format(size): run.throughputs.get(size) for size in batch_sizes},
        EVALUATION_THROUGHPUT_COLUMN: None if run.throughputs else run.value("images_per_sec"),
        "base": base.label if measured else None, "host": run.host, "run": run.id,
    }


def comparison_table(base: ComparedRun | None, runs: Sequence[ComparedRun],
                     skipped: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    """One row per run, grouped by device, each against its device's base (`base` for its own device, see
    `device_bases`), then the `skipped` (target, reason) rows. The decision columns come first; a status column
    only when some row did not succeed; columns no row has are left out."""
    batch_sizes = sorted({size for run in runs for size in run.throughputs})
    bases = device_bases([run for run in runs if run.status == SUCCEEDED], base)
    rows = [_row(run, bases.get(run.device), batch_sizes) for run in sorted(runs, key=sort_key)]
    rows += [{"target": target, STATUS_COLUMN: f"skipped: {reason}"} for target, reason in skipped]
    frame = pd.DataFrame(rows)  # columns in `_row`'s order
    if frame.empty:
        return frame
    if (frame[STATUS_COLUMN] == SUCCEEDED).all():
        frame = frame.drop(columns=STATUS_COLUMN)
    if "run" in frame.columns:
        frame["run"] = frame["run"].astype("Int64")
    return frame[[column for column in frame.columns
                  if column in ("target", "device") or frame[column].notna().any()]]


def best_cells(frame: pd.DataFrame) -> set[tuple[int, str]]:
    """(row position, column) of each device's best value per column, where 2 or more of its rows have one."""
    columns = {column: way for column, way in BEST.items() if column in frame.columns}
    columns.update({column: "max" for column in frame.columns if str(column).startswith("img/s")})
    found: set[tuple[int, str]] = set()
    for _, group in frame.reset_index(drop=True).groupby("device", sort=False, dropna=True):
        for column, way in columns.items():
            values = pd.to_numeric(group[column], errors="coerce").dropna()
            if len(values) < 2:
                continue
            best = values.max() if way == "max" else values.min()
            found.update((int(position), column) for position in values.index[values == best])
    return found


def column_format(column: str) -> str:
    """The format string of a column's numbers (see FORMATS)."""
    if column.startswith("Δ"):
        return DELTA_FORMAT
    if column.startswith("img/s"):
        return THROUGHPUT_FORMAT
    return FORMATS.get(column, "{:.4g}")


def _cell(column: str, value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return column_format(column).format(value)
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """The frame as a GitHub Markdown table; numbers right-aligned, deltas signed, missing values as "-"."""
    columns = [str(column) for column in frame.columns]
    align = ["---:" if pd.api.types.is_numeric_dtype(frame[column]) else "---" for column in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_cell(column, value) for column, value in zip(columns, row)) + " |"
              for row in frame.astype(object).itertuples(index=False)]
    return "\n".join(lines)


def class_ap_table(base: ComparedRun | None, runs: Sequence[ComparedRun]) -> pd.DataFrame:
    """Per-class AP@0.5: one row per class, an AP column per run and a Δ column per run against its device's base
    (other than the base itself)."""
    bases = device_bases(runs, base)
    ordered = sorted(runs, key=sort_key)
    classes = sorted({name for run in ordered for name in run.class_ap})
    table: dict[str, list[Any]] = {"class": classes}
    for run in ordered:
        table[f"AP {run.label}"] = [run.class_ap.get(name) for name in classes]
        reference = bases.get(run.device)
        if reference is not None and run.id != reference.id:
            table[f"Δ {run.label}"] = [_difference(run.class_ap.get(name), reference.class_ap.get(name))
                                       for name in classes]
    return pd.DataFrame(table)
