"""Reports over the run ledger, shared by the CLI and the dashboard: the seed's "Images/sec | Time per epoch" table."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


def training_rows(db_url: str | None = None, *, limit: int = 100) -> list[TrainingRow]:
    """One row per recorded training run among the newest `limit` (archived ones left out) with its images/sec and
    time per epoch; two statements whatever the number of runs."""
    from core.ledger import prepare_ledger
    from db import queries
    from db.engine import make_engine, session_scope

    engine = make_engine(prepare_ledger(db_url))
    try:
        with session_scope(engine) as session:
            runs = [run for run in queries.page_runs(session, filters=queries.RunFilters(kinds=("train",)),
                                                     limit=limit).rows if run.status in REPORTED_STATUSES]
            metrics: dict[int, list[MetricRow]] = {run.id: [] for run in runs}
            for metric in queries.metrics_of_runs(session, run_ids=metrics, names=SPEED_METRICS):
                metrics[metric.run_id].append(metric)
    finally:
        engine.dispose()
    return [row for row in (_training_row(run, metrics[run.id]) for run in runs) if row is not None]


def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{rest:.1f} s"


def training_table(rows: list[TrainingRow]) -> str:
    """The Markdown table `device | Images/sec | Time per epoch | batch size | dataset`."""
    lines = ["| device | Images/sec | Time per epoch | batch size | dataset |", "|---|---:|---:|---:|---|"]
    lines += [f"| {row.device} | {row.images_per_sec:.1f} | {_duration(row.epoch_seconds)} | "
              f"{row.batch_size if row.batch_size is not None else '-'} | {row.dataset} |" for row in rows]
    return "\n".join(lines)
