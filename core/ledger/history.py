"""`History`: the run history's one door. Recording, listing and paging, a run's detail, the measured runs the
comparison is built from (`core.optimize.comparison`), reports, archive and delete, import and export all go through
one object, opened once per process (the CLI command, the dashboard's cached resource, a benchmark) from the
database URL its caller read from the settings.

Opening it upgrades the schema and marks the runs of dead processes `interrupted`, once. Every method is one short
transaction whose statements do not grow with the number of runs in the history (filters, sorting and paging happen
in SQL, in `db.queries`, the only place that knows SQL). Values returned are plain dataclasses, records and frames
(or runs loaded with their metrics and artifacts), safe to cache and to use after the transaction.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.errors import UserError
from core.ledger.kinds import COMPARED_KINDS, RunKind
from core.ledger.recorder import RecordedRun, record_run, sweep_interrupted
from core.ledger.transfer import read_jsonl, write_csv, write_jsonl
from db import queries
from db.engine import make_engine, session_scope
from db.migrate import upgrade_engine
from db.queries import FilterOptions, ImportResult, MetricRow, RunDetail, RunFilters, RunPage, RunRow

if TYPE_CHECKING:
    import pandas as pd

    from core.ledger.training_speed import TrainingRow

TRAINING_RUNS_LIMIT = 100
CURVE_METRICS = ("train_loss", "val_loss", "val_map50", "images_per_sec")


class History:
    """The run history at one database URL; see the module's docstring. Use `History.open(url)`, and `close()` it
    (or use it as a context manager) when the process is done with it."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> History:
        """The history at `url`, its schema upgraded and the runs of dead processes marked interrupted."""
        engine = make_engine(url)
        try:
            upgrade_engine(engine)
            sweep_interrupted(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(url, engine)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with session_scope(self._engine) as session:
            yield session

    # --- recording ---

    def record(self, kind: str, params: dict[str, Any] | None = None, *, parent_id: int | None = None,
               device: str | None = None) -> AbstractContextManager[RecordedRun]:
        """Record one job: `with history.record(RunKind.EXPORT, {"opset": 17}) as run: ...; run.metric(...)`.

        Ends `succeeded`, `failed` (with the exception's one-line message; the exception propagates) or `interrupted`
        (KeyboardInterrupt). `device` names the compute device used when it is not the machine's best one.
        """
        return record_run(self._engine, kind, params, parent_id=parent_id, device=device)

    # --- listing and detail ---

    def page(self, filters: RunFilters = RunFilters(), *, sort: str = "started_at", descending: bool = True,
             offset: int = 0, limit: int = 50, key_metrics: bool = False) -> RunPage:
        """One page of the filtered, sorted runs and the filtered total; with `key_metrics`, each row's summary
        metrics (two statements in all)."""
        with self._session() as session:
            return queries.page_runs(session, filters=filters, sort=sort, descending=descending, offset=offset,
                                     limit=limit, key_metrics=key_metrics)

    def filter_options(self) -> FilterOptions:
        with self._session() as session:
            return queries.filter_options(session)

    def detail(self, run_id: int) -> RunDetail | None:
        """A run with its metrics and artifacts, its ancestors (root first) and its children."""
        with self._session() as session:
            return queries.run_detail(session, run_id=run_id)

    def find(self, ref: str) -> RunDetail | None:
        """`detail` of the run named by a database id, a uuid or a unique uuid prefix of at least 6 characters."""
        with self._session() as session:
            run = queries.find_run(session, ref=ref)
            return None if run is None else queries.run_detail(session, run_id=run.id)

    def metrics(self, run_ids: Iterable[int], *, key_only: bool = False,
                names: Iterable[str] | None = None) -> list[MetricRow]:
        """The metrics of many runs, in recording order; `key_only`: their summary values only."""
        with self._session() as session:
            return queries.metrics_of_runs(session, run_ids=run_ids, key_only=key_only, names=names)

    def producer_uuid(self, sha256: str) -> str | None:
        """The uuid of the latest run that wrote a file with this content, if any."""
        with self._session() as session:
            producer = queries.producer_of(session, sha256=sha256)
            row = None if producer is None else queries.run_row(session, run_id=producer)
            return None if row is None else row.uuid

    # --- changing runs ---

    def set_archived(self, run_ids: Iterable[int], archived: bool) -> int:
        """Archive (hide from the default listing) or bring back runs; returns how many changed."""
        with self._session() as session:
            return queries.set_archived(session, run_ids=run_ids, archived=archived)

    def delete(self, run_ids: Iterable[int]) -> int:
        """Delete runs with their metrics and artifacts; their children stay, without a parent."""
        with self._session() as session:
            return queries.delete_runs(session, run_ids=run_ids)

    # --- import and export ---

    def records(self, *, kind: str | None = None, run_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """Every run (oldest first), or those of `kind` / `run_ids`, as portable records (see db.records)."""
        with self._session() as session:
            return list(queries.export_records(session, kind=kind, run_ids=run_ids))

    def import_records(self, records: Iterable[dict[str, Any]]) -> ImportResult:
        """Merge portable records in one transaction (all or none); runs already here (by uuid) are skipped."""
        with self._session() as session:
            return queries.import_records(session, records=records)

    def export_jsonl(self, output: str | Path, *, kind: str | None = None) -> int:
        """Write every run (optionally of one kind) as the JSON lines `import_jsonl` reads; returns how many."""
        return write_jsonl(output, self.records(kind=kind))

    def export_csv(self, output: str | Path, *, kind: str | None = None) -> int:
        """Write one CSV row per run with its key metrics as `metric.NAME` columns; returns how many."""
        return write_csv(output, self.records(kind=kind))

    def import_jsonl(self, path: str | Path) -> ImportResult:
        """Merge a JSONL export: every line is checked before anything is written, then all runs go in at once."""
        return self.import_records(read_jsonl(path))

    # --- measured runs (for the comparison) and reports ---

    def measured_runs(self, *, kinds: Iterable[str] = COMPARED_KINDS, optimize_id: str | None = None,
                      limit: int, oldest_first: bool = False) -> list[tuple[RunRow, list[MetricRow]]]:
        """Succeeded runs of `kinds` (or every run of one `optimize` command, whatever its status, where
        `optimize_id` is given; found by its parameter in SQL), newest first unless `oldest_first`, each with its
        summary and per-class metrics: two statements, whatever the history's size."""
        filters = (RunFilters(kinds=tuple(kinds), optimize_id=optimize_id, archived=None) if optimize_id is not None
                   else RunFilters(kinds=tuple(kinds), statuses=("succeeded",)))
        with self._session() as session:
            rows = queries.page_runs(session, filters=filters, sort="id" if oldest_first else "started_at",
                                     descending=not oldest_first, limit=limit).rows
            metrics: dict[int, list[MetricRow]] = {row.id: [] for row in rows}
            for metric in queries.metrics_of_runs(session, run_ids=metrics):
                metrics[metric.run_id].append(metric)
        return [(row, metrics[row.id]) for row in rows]

    def optimize_invocation(self, run_id: int | None = None) -> str:
        """The `optimize` command that recorded run `run_id` (default: the newest optimize run), as its optimize_id."""
        with self._session() as session:
            return _invocation_of(session, run_id)

    def training_rows(self, limit: int = TRAINING_RUNS_LIMIT) -> list[TrainingRow]:
        """The training-speed rows of the newest `limit` training runs (archived ones left out)."""
        from core.ledger.training_speed import REPORTED_STATUSES, SPEED_METRICS, training_rows

        with self._session() as session:
            runs = [run for run in queries.page_runs(session, filters=RunFilters(kinds=(RunKind.TRAIN,)),
                                                     limit=limit).rows if run.status in REPORTED_STATUSES]
            metrics = queries.metrics_of_runs(session, run_ids=[run.id for run in runs], names=SPEED_METRICS)
        return training_rows(runs, metrics)

    def training_curves(self, limit: int = TRAINING_RUNS_LIMIT) -> pd.DataFrame:
        """Per-epoch values (loss, validation mAP, images/sec) of the newest training runs as long rows."""
        from core.ledger.training_speed import training_curves

        with self._session() as session:
            runs = queries.page_runs(session, filters=RunFilters(kinds=(RunKind.TRAIN,)), limit=limit).rows
            metrics = queries.metrics_of_runs(session, run_ids=[run.id for run in runs], names=CURVE_METRICS)
        return training_curves(runs, metrics)


def _invocation_of(session: Session, run_id: int | None) -> str:
    """The optimize_id of run `run_id` (default: of the newest optimize run)."""
    if run_id is None:
        newest = queries.page_runs(session, filters=RunFilters(kinds=(RunKind.OPTIMIZE,), archived=None), limit=1)
        if not newest.rows:
            raise UserError("no optimize runs recorded yet (run `python -m core optimize` first)")
        anchor = newest.rows[0]
    else:
        anchor = queries.run_row(session, run_id=run_id)
        if anchor is None or anchor.kind != RunKind.OPTIMIZE:
            raise UserError(f"run {run_id} is not an optimize run")
    return str(anchor.params.get(queries.INVOCATION_PARAM))
