"""Reports over the run ledger, shared by the CLI and the dashboard: the seed's "Images/sec | Time per epoch" table."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

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


def _speed_metric(metrics, name: str) -> float | None:
    """The run's own summary value of `name` if it recorded one, else the median over its finished epochs."""
    summary = [m.value for m in metrics if m.name == name and m.epoch is None and m.class_name is None]
    if summary:
        return summary[-1]
    values = [m.value for m in metrics if m.name == name and m.epoch is not None and m.class_name is None]
    return statistics.median(values) if values else None


def training_rows(db_url: str | None = None, *, limit: int = 100) -> list[TrainingRow]:
    """One row per recorded training run (newest first) with its images/sec and time per epoch."""
    from core.ledger import prepare_ledger
    from db import queries
    from db.engine import make_engine, session_scope

    engine = make_engine(prepare_ledger(db_url))
    rows = []
    try:
        with session_scope(engine) as session:
            for summary in queries.list_runs(session, kind="train", limit=limit):
                if summary.status not in REPORTED_STATUSES:
                    continue
                run = queries.get_run(session, run_id=summary.id)
                speed = _speed_metric(run.metrics, "images_per_sec")
                seconds = _speed_metric(run.metrics, "epoch_seconds")
                if speed is None or seconds is None:
                    continue
                epochs = len({m.epoch for m in run.metrics if m.name == "epoch_seconds" and m.epoch is not None})
                rows.append(TrainingRow(run.id, run.device, speed, seconds, run.params.get("batch_size"),
                                        Path(str(run.params.get("data", ""))).name, epochs, run.status))
    finally:
        engine.dispose()
    return rows


def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{rest:.1f} s"


def training_table(rows: list[TrainingRow]) -> str:
    """The Markdown table `device | Images/sec | Time per epoch | batch size | dataset`."""
    lines = ["| device | Images/sec | Time per epoch | batch size | dataset |", "|---|---:|---:|---:|---|"]
    lines += [f"| {row.device} | {row.images_per_sec:.1f} | {_duration(row.epoch_seconds)} | "
              f"{row.batch_size if row.batch_size is not None else '-'} | {row.dataset} |" for row in rows]
    return "\n".join(lines)
