"""The training-speed report, shared by `python -m core report training` and the Training page: the table
"device | Images/sec | Time per epoch | batch size | dataset" of the recorded training runs, and their per-epoch
curves. Pure logic over listing rows and metric rows; the history (`core.ledger.History`) reads them.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.ledger.display import duration_text
from db.queries import MetricRow, RunRow

SPEED_METRICS = ("images_per_sec", "epoch_seconds")
REPORTED_STATUSES = ("succeeded", "interrupted")  # an interrupted run's finished epochs are real measurements


@dataclass(frozen=True)
class TrainingRow:
    run_id: int
    device: str
    images_per_sec: float
    epoch_seconds: float
    batch_size: int | None
    dataset: str
    epochs: int
    status: str


def _speed_metric(metrics: list[MetricRow], name: str) -> float | None:
    """The run's own summary value of `name` if it recorded one, else the median over its finished epochs."""
    summary = [m.value for m in metrics if m.name == name and m.epoch is None and m.class_name is None]
    if summary:
        return summary[-1]
    values = [m.value for m in metrics if m.name == name and m.epoch is not None and m.class_name is None]
    return statistics.median(values) if values else None


def _training_row(run: RunRow, metrics: list[MetricRow]) -> TrainingRow | None:
    speed = _speed_metric(metrics, "images_per_sec")
    seconds = _speed_metric(metrics, "epoch_seconds")
    if speed is None or seconds is None:
        return None
    epochs = len({m.epoch for m in metrics if m.name == "epoch_seconds" and m.epoch is not None})
    return TrainingRow(run.id, run.device, speed, seconds, run.params.get("batch_size"),
                       Path(str(run.params.get("data", ""))).name, epochs, run.status)


def training_rows(runs: list[RunRow], metrics: list[MetricRow]) -> list[TrainingRow]:
    """One row per training run that ended as reported (succeeded, or interrupted after whole epochs) with its
    images/sec and time per epoch."""
    by_run: dict[int, list[MetricRow]] = {run.id: [] for run in runs}
    for metric in metrics:
        by_run.setdefault(metric.run_id, []).append(metric)
    return [row for row in (_training_row(run, by_run[run.id]) for run in runs if run.status in REPORTED_STATUSES)
            if row is not None]


def curve_label(run: RunRow) -> str:
    """How a training run is named in the curves' legend: id, dataset, batch size and device."""
    return f"#{run.id} {Path(str(run.params.get('data', ''))).name} bs{run.params.get('batch_size')} ({run.device})"


def training_curves(runs: list[RunRow], metrics: list[MetricRow]) -> pd.DataFrame:
    """Per-epoch values of the runs as long rows: run, epoch, metric, value."""
    labels = {run.id: curve_label(run) for run in runs}
    return pd.DataFrame([{"run": labels[m.run_id], "epoch": m.epoch, "metric": m.name, "value": m.value}
                         for m in metrics if m.epoch is not None and m.class_name is None and m.run_id in labels],
                        columns=["run", "epoch", "metric", "value"])


def training_table(rows: list[TrainingRow]) -> str:
    """The Markdown table `device | Images/sec | Time per epoch | batch size | dataset`."""
    lines = ["| device | Images/sec | Time per epoch | batch size | dataset |", "|---|---:|---:|---:|---|"]
    lines += [f"| {row.device} | {row.images_per_sec:.1f} | {duration_text(row.epoch_seconds)} | "
              f"{row.batch_size if row.batch_size is not None else '-'} | {row.dataset} |" for row in rows]
    return "\n".join(lines)
