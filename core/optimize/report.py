"""The optimization comparison table (`python -m core report optimize`): one Markdown row per target of one
`optimize` invocation, with ΔmAP and speed-up against the target's FP32 reference (the FP32 row of its backend),
and the device each row ran on (a Jetson's imported rows share an invocation with the server's reference).
"""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserError

RUN_KIND = "optimize"
SPEED_METRIC = "end_to_end_640x480_ms"


@dataclass(frozen=True)
class OptimizeRow:
    """One target: its run and summary metrics, or (run None) why it was skipped."""

    target: str
    run_id: int | None = None
    status: str = "skipped"
    reference: str | None = None
    metrics: dict[str, float] | None = None
    reason: str | None = None
    device: str | None = None

    def value(self, name: str) -> float | None:
        return (self.metrics or {}).get(name)


def _summary_metrics(run) -> dict[str, float]:
    return {m.name: m.value for m in run.metrics if m.epoch is None and m.class_name is None}


def optimize_rows(db_url: str | None = None, *, run_id: int | None = None,
                  optimize_id: str | None = None) -> list[OptimizeRow]:
    """The rows of one invocation: `optimize_id`, else the one that recorded `run_id`, else the newest."""
    from core.ledger import prepare_ledger
    from db import queries
    from db.engine import make_engine, session_scope

    engine = make_engine(prepare_ledger(db_url))
    try:
        with session_scope(engine) as session:
            if optimize_id is None:
                optimize_id = _invocation_of(session, run_id)
            summaries = queries.list_runs(session, kind=RUN_KIND, limit=10_000)
            runs = [queries.get_run(session, run_id=s.id) for s in summaries]
            return sorted(
                (OptimizeRow(run.params.get("target", "?"), run.id, run.status, run.params.get("reference"),
                             _summary_metrics(run), run.error, run.device)
                 for run in runs if run.params.get("optimize_id") == optimize_id),
                key=lambda row: row.run_id or 0)
    finally:
        engine.dispose()


def _invocation_of(session, run_id: int | None) -> str:
    """The optimize_id of run `run_id` (default: of the newest optimize run)."""
    from db import queries

    if run_id is None:
        newest = queries.list_runs(session, kind=RUN_KIND, limit=1)
        if not newest:
            raise UserError("no optimize runs recorded yet (run `python -m core optimize` first)")
        run_id = newest[0].id
    anchor = queries.get_run(session, run_id=run_id)
    if anchor is None or anchor.kind != RUN_KIND:
        raise UserError(f"run {run_id} is not an optimize run")
    return str(anchor.params.get("optimize_id"))


def _number(value: float | None, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def _size(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f} MB"


def _throughput(row: OptimizeRow) -> str:
    cells = sorted(((int(name.removeprefix("throughput_b")), value) for name, value in (row.metrics or {}).items()
                    if name.startswith("throughput_b")))
    return " / ".join(f"{value:.0f}@{batch}" for batch, value in cells) or "-"


def optimize_table(rows: list[OptimizeRow]) -> str:
    """Markdown: target, size, latency, throughput, mAP, ΔmAP vs FP32, speed-up vs FP32, device (and skipped
    rows)."""
    by_target = {row.target: row for row in rows if row.run_id is not None}
    lines = ["| target | status | size | latency p50/p95 (ms) | 640x480 detect (ms) | throughput (img/s@batch) | "
             "mAP@0.5 | COCO mAP | ΔmAP@0.5 vs FP32 | ΔCOCO vs FP32 | speed-up vs FP32 | device |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        status = row.status if row.status == "succeeded" or not row.reason else f"{row.status}: {row.reason}"
        if row.run_id is None:
            lines.append(f"| {row.target} | {status} |" + " - |" * 10)
            continue
        reference = by_target.get(row.reference or "")
        speedup = None
        if reference is not None and row.value(SPEED_METRIC) and reference.value(SPEED_METRIC):
            speedup = reference.value(SPEED_METRIC) / row.value(SPEED_METRIC)
        delta_map = row.value("delta_map50")
        delta_coco = row.value("delta_coco_map")
        if reference is row:
            delta_map = delta_coco = 0.0
        latency = f"{_number(row.value('latency_p50_ms'), '.1f')} / {_number(row.value('latency_p95_ms'), '.1f')}"
        lines.append(
            f"| {row.target} | {status} | {_size(row.value('model_bytes'))} | {latency} | "
            f"{_number(row.value(SPEED_METRIC), '.1f')} | {_throughput(row)} | {_number(row.value('map50'), '.4f')} | "
            f"{_number(row.value('coco_map'), '.4f')} | {_number(delta_map, '+.4f')} | "
            f"{_number(delta_coco, '+.4f')} | {_number(speedup, '.2f')}{'x' if speedup else ''} | "
            f"{(row.device or '-').replace('|', '/')} |")
    return "\n".join(lines)
