"""Flat query functions over the ledger; each takes a session and keyword-only arguments and never commits.

The caller (the ledger's `History`) owns the transaction (see `db.engine.session_scope`). Listings read one
statement per table whatever the number of runs in the history: paging, sorting and filtering happen in the
database, parameters included (read from the JSON column).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal, select, update
from sqlalchemy.orm import Session, aliased, selectinload

from db.models import Artifact, Metric, Run, RunStatus
from db.records import record_to_run, run_to_record

_LOOKUP_CHUNK = 500  # stays under every backend's limit on bound parameters


@dataclass(frozen=True)
class KeyMetric:
    """A run's summary value of one metric (recorded without epoch and class)."""

    value: float
    unit: str | None


@dataclass(frozen=True)
class ImportResult:
    added: int
    skipped: int


def create_run(
    session: Session,
    *,
    uuid: str,
    kind: str,
    params: dict[str, Any],
    started_at: datetime,
    device: str,
    host: str,
    pid: int | None,
    environment: dict[str, Any],
    parent_id: int | None = None,
) -> Run:
    """Insert a run in state `running`; its id is assigned (flushed) before returning."""
    run = Run(uuid=uuid, kind=kind, status=RunStatus.RUNNING.value, started_at=started_at, params=params,
              device=device, host=host, pid=pid, environment=environment, parent_id=parent_id)
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session, *, run_id: int, status: RunStatus, finished_at: datetime, error: str | None = None
) -> None:
    session.execute(
        update(Run).where(Run.id == run_id).values(status=status.value, finished_at=finished_at, error=error)
    )


def set_parent(session: Session, *, run_id: int, parent_id: int) -> None:
    session.execute(update(Run).where(Run.id == run_id).values(parent_id=parent_id))


def add_metric(
    session: Session,
    *,
    run_id: int,
    name: str,
    value: float,
    unit: str | None = None,
    epoch: int | None = None,
    class_name: str | None = None,
) -> None:
    session.add(Metric(run_id=run_id, name=name, value=value, unit=unit, epoch=epoch, class_name=class_name))


def add_artifact(
    session: Session,
    *,
    run_id: int,
    kind: str,
    path: str,
    sha256: str,
    size: int,
    format: str | None = None,
    precision: str | None = None,
) -> None:
    session.add(Artifact(run_id=run_id, kind=kind, path=path, sha256=sha256, bytes=size, format=format,
                         precision=precision))


def producer_of(session: Session, *, sha256: str, exclude_run_id: int | None = None) -> int | None:
    """The id of the latest run that wrote a file with this content (an `output` artifact), if any."""
    query = (
        select(Artifact.run_id)
        .join(Run, Run.id == Artifact.run_id)
        .where(Artifact.sha256 == sha256, Artifact.kind == "output")
        .order_by(Run.started_at.desc(), Run.id.desc())
        .limit(1)
    )
    if exclude_run_id is not None:
        query = query.where(Artifact.run_id != exclude_run_id)
    return session.scalar(query)


def get_run(session: Session, *, run_id: int) -> Run | None:
    """A run with its metrics, artifacts and parent loaded."""
    return session.scalar(
        select(Run).where(Run.id == run_id).options(selectinload(Run.metrics), selectinload(Run.artifacts),
                                                    selectinload(Run.parent))
    )


def find_run(session: Session, *, ref: str) -> Run | None:
    """A run by database id, by uuid, or by a unique uuid prefix of at least 6 characters (all digits: the id
    first, then the prefix, since about one uuid in 40 starts with 8 decimal digits)."""
    ref = ref.strip()
    if ref.isdigit():
        run = get_run(session, run_id=int(ref))
        if run is not None:
            return run
    if len(ref) < 6:
        return None
    ids = session.scalars(select(Run.id).where(Run.uuid.startswith(ref, autoescape=True)).limit(2)).all()
    return get_run(session, run_id=ids[0]) if len(ids) == 1 else None


def running_on_host(session: Session, *, host: str) -> list[Run]:
    """Runs still marked `running` that were started on `host` (candidates for the dead-process sweep)."""
    return list(session.scalars(select(Run).where(Run.status == RunStatus.RUNNING.value, Run.host == host)))


def mark_interrupted(session: Session, *, run_ids: Iterable[int], finished_at: datetime, error: str) -> int:
    """Mark those of `run_ids` that are still `running` as interrupted; returns how many changed."""
    ids = list(run_ids)
    if not ids:
        return 0
    result = session.execute(
        update(Run)
        .where(Run.id.in_(ids), Run.status == RunStatus.RUNNING.value)
        .values(status=RunStatus.INTERRUPTED.value, finished_at=finished_at, error=error)
    )
    return int(result.rowcount or 0)


def export_records(
    session: Session, *, kind: str | None = None, run_ids: Iterable[int] | None = None
) -> Iterator[dict[str, Any]]:
    """Every run (oldest first), or only those of `kind` / `run_ids`, as portable records with metrics and artifacts."""
    query = select(Run).options(selectinload(Run.metrics), selectinload(Run.artifacts)).order_by(Run.started_at, Run.id)
    if kind is not None:
        query = query.where(Run.kind == kind)
    if run_ids is not None:
        query = query.where(Run.id.in_(list(run_ids)))
    uuids: dict[int, str] = {run_id: uuid for run_id, uuid in session.execute(select(Run.id, Run.uuid))}
    for run in session.scalars(query):
        yield run_to_record(run, uuids.get(run.parent_id) if run.parent_id is not None else None)


def _ids_by_uuid(session: Session, uuids: Iterable[str]) -> dict[str, int]:
    wanted = list(dict.fromkeys(uuids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        rows = session.execute(select(Run.uuid, Run.id).where(Run.uuid.in_(chunk)))
        found.update({uuid: run_id for uuid, run_id in rows})
    return found


def import_records(session: Session, *, records: Iterable[dict[str, Any]]) -> ImportResult:
    """Merge portable records: runs whose uuid is already here are skipped; parent links are rebuilt by uuid."""
    pending = list(records)
    existing = _ids_by_uuid(session, (str(record.get("uuid")) for record in pending if isinstance(record, dict)))
    added: list[tuple[Run, str | None]] = []
    skipped = 0
    for record in pending:
        run = record_to_run(record)
        if run.uuid in existing:
            skipped += 1
            continue
        session.add(run)
        existing[run.uuid] = -1  # a duplicate later in the same file is skipped too
        added.append((run, record.get("parent_uuid")))
    session.flush()
    parents = _ids_by_uuid(session, (parent for _, parent in added if parent))
    for run, parent_uuid in added:
        if parent_uuid and parent_uuid in parents:
            run.parent_id = parents[parent_uuid]
    return ImportResult(added=len(added), skipped=skipped)


# --- the history pages: paged listing, detail with lineage, metrics of many runs, archive and delete ---

def _param(name: str) -> ColumnElement[str]:
    """A text parameter of the run (JSON), usable in WHERE, ORDER BY and GROUP BY on every backend."""
    return Run.params[name].as_string()


MODEL_PARAM = "weights"  # the model a run used or produced, as its command line named it
INVOCATION_PARAM = "optimize_id"  # shared by the runs one `core optimize` (or `jetson pack`) command recorded
SORT_COLUMNS: dict[str, Any] = {
    "id": Run.id, "kind": Run.kind, "status": Run.status, "started_at": Run.started_at,
    "finished_at": Run.finished_at, "device": Run.device, "host": Run.host, "model": _param(MODEL_PARAM),
    "target": _param("target"), "precision": _param("precision"),
}


@dataclass(frozen=True)
class RunFilters:
    """What the run listing shows; empty fields do not filter. `archived`: False active, True archived, None all."""

    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    model: str | None = None
    target: str | None = None
    precision: str | None = None
    device: str | None = None
    host: str | None = None
    started_from: datetime | None = None
    started_before: datetime | None = None
    archived: bool | None = False
    optimize_id: str | None = None


@dataclass(frozen=True)
class RunRow:
    """One row of the paged listing: the run's columns and the parameters the history pages show."""

    id: int
    uuid: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    device: str
    host: str
    pid: int | None
    parent_id: int | None
    error: str | None
    archived: bool
    params: dict[str, Any]
    metrics: dict[str, KeyMetric] = field(default_factory=dict)  # filled when the page asks for key metrics

    @property
    def model(self) -> str | None:
        return self.params.get(MODEL_PARAM)

    @property
    def target(self) -> str | None:
        return self.params.get("target")

    @property
    def precision(self) -> str | None:
        return self.params.get("precision")

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunPage:
    rows: list[RunRow]
    total: int


@dataclass(frozen=True)
class MetricRow:
    run_id: int
    name: str
    value: float
    unit: str | None
    epoch: int | None
    class_name: str | None


@dataclass(frozen=True)
class LineageItem:
    """A run related to the one shown: `depth` < 0 for ancestors (-1 the parent), > 0 for children."""

    id: int
    kind: str
    status: str
    depth: int
    params: dict[str, Any]


@dataclass(frozen=True)
class RunDetail:
    run: Run
    ancestors: list[LineageItem]
    children: list[LineageItem]


@dataclass(frozen=True)
class FilterOptions:
    """The distinct values each listing filter can take, for the page's select boxes."""

    kinds: list[str]
    statuses: list[str]
    models: list[str]
    targets: list[str]
    precisions: list[str]
    devices: list[str]
    hosts: list[str]


_ROW_COLUMNS = (Run.id, Run.uuid, Run.kind, Run.status, Run.started_at, Run.finished_at, Run.device, Run.host,
                Run.pid, Run.parent_id, Run.error, Run.archived, Run.params)


def _filtered(query: Any, filters: RunFilters) -> Any:
    conditions: list[ColumnElement[bool]] = []
    if filters.kinds:
        conditions.append(Run.kind.in_(filters.kinds))
    if filters.statuses:
        conditions.append(Run.status.in_(filters.statuses))
    for column, value in ((_param(MODEL_PARAM), filters.model), (_param("target"), filters.target),
                          (_param("precision"), filters.precision), (Run.device, filters.device),
                          (Run.host, filters.host), (_param(INVOCATION_PARAM), filters.optimize_id)):
        if value is not None:
            conditions.append(column == value)
    if filters.started_from is not None:
        conditions.append(Run.started_at >= filters.started_from)
    if filters.started_before is not None:
        conditions.append(Run.started_at < filters.started_before)
    if filters.archived is not None:
        conditions.append(Run.archived == filters.archived)
    return query.where(*conditions)


def page_runs(
    session: Session,
    *,
    filters: RunFilters = RunFilters(),
    sort: str = "started_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
    key_metrics: bool = False,
) -> RunPage:
    """One page of the filtered, sorted listing and the filtered total, in one statement (the count is an
    uncorrelated subquery, so the page itself walks only `offset + limit` rows of an index); with `key_metrics`,
    the rows' summary metrics in one more."""
    if sort not in SORT_COLUMNS:
        raise ValueError(f"cannot sort runs by {sort!r}; one of {', '.join(SORT_COLUMNS)}")
    column = SORT_COLUMNS[sort]
    # missing values sort as the smallest on every backend (PostgreSQL would put NULLs last going up)
    order = (column.desc().nulls_last(), Run.id.desc()) if descending else (column.asc().nulls_first(), Run.id.asc())
    total = _filtered(select(func.count(Run.id)), filters).scalar_subquery()
    query = _filtered(select(*_ROW_COLUMNS, total.label("total")), filters)
    rows = session.execute(query.order_by(*order).offset(max(offset, 0)).limit(limit)).all()
    if rows:
        metrics = _key_metrics(session, [row.id for row in rows]) if key_metrics else {}
        return RunPage([RunRow(*row[:-1], metrics=metrics.get(row.id, {})) for row in rows], int(rows[0].total))
    total_only = session.scalar(_filtered(select(func.count(Run.id)), filters)) if offset > 0 else 0
    return RunPage([], int(total_only or 0))  # past the last page: the count alone


def _key_metrics(session: Session, run_ids: list[int]) -> dict[int, dict[str, KeyMetric]]:
    """The summary metrics of a page of runs (a later value of the same name wins)."""
    found: dict[int, dict[str, KeyMetric]] = {run_id: {} for run_id in run_ids}
    for metric in metrics_of_runs(session, run_ids=run_ids, key_only=True):
        found[metric.run_id][metric.name] = KeyMetric(metric.value, metric.unit)
    return found


def run_row(session: Session, *, run_id: int) -> RunRow | None:
    """One run's listing row (columns and parameters, no metrics), in one statement."""
    row = session.execute(select(*_ROW_COLUMNS).where(Run.id == run_id)).first()
    return None if row is None else RunRow(*row)


def filter_options(session: Session) -> FilterOptions:
    """The distinct kinds, statuses, models, targets, precisions, devices and hosts, in one grouped statement."""
    columns = (Run.kind, Run.status, _param(MODEL_PARAM), _param("target"), _param("precision"), Run.device, Run.host)
    rows = session.execute(select(*columns).group_by(*columns)).all()
    values = [sorted({row[index] for row in rows if row[index] not in (None, "")}) for index in range(len(columns))]
    return FilterOptions(*values)


def run_detail(session: Session, *, run_id: int) -> RunDetail | None:
    """A run with its metrics and artifacts, its ancestors (root first) and its children."""
    run = session.scalar(
        select(Run).where(Run.id == run_id).options(selectinload(Run.metrics), selectinload(Run.artifacts))
    )
    if run is None:
        return None
    lineage = _lineage(session, run_id=run_id)
    return RunDetail(run, sorted((item for item in lineage if item.depth < 0), key=lambda item: item.depth),
                     [item for item in lineage if item.depth > 0])


def _lineage(session: Session, *, run_id: int) -> list[LineageItem]:
    """Ancestors (a recursive walk up parent_id) and direct children of a run, in one statement."""
    up = select(Run.parent_id.label("id"), literal(-1).label("depth")).where(Run.id == run_id).cte(recursive=True)
    parent = aliased(Run)
    up = up.union_all(select(parent.parent_id, up.c.depth - 1).join(parent, parent.id == up.c.id)
                      .where(parent.parent_id.is_not(None), up.c.depth > -100))
    ancestors = select(Run.id, Run.kind, Run.status, up.c.depth, Run.params).join(up, up.c.id == Run.id)
    children = select(Run.id, Run.kind, Run.status, literal(1), Run.params).where(Run.parent_id == run_id)
    rows = session.execute(ancestors.union_all(children)).all()
    return sorted((LineageItem(*row) for row in rows), key=lambda item: (item.depth, item.id))


def metrics_of_runs(
    session: Session, *, run_ids: Iterable[int], key_only: bool = False, names: Iterable[str] | None = None
) -> list[MetricRow]:
    """The metrics of many runs in one statement (per 500 runs), in recording order; `key_only`: summary values."""
    ids = list(dict.fromkeys(run_ids))
    wanted = None if names is None else list(names)
    found: list[MetricRow] = []
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        query = select(Metric.run_id, Metric.name, Metric.value, Metric.unit, Metric.epoch, Metric.class_name).where(
            Metric.run_id.in_(ids[start : start + _LOOKUP_CHUNK]))
        if key_only:
            query = query.where(Metric.epoch.is_(None), Metric.class_name.is_(None))
        if wanted is not None:
            query = query.where(Metric.name.in_(wanted))
        found += [MetricRow(*row) for row in session.execute(query.order_by(Metric.id))]
    return found


def set_archived(session: Session, *, run_ids: Iterable[int], archived: bool) -> int:
    """Archive (hide from the default listing) or bring back runs; returns how many changed."""
    result = session.execute(
        update(Run).where(Run.id.in_(list(run_ids)), Run.archived != archived).values(archived=archived)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def delete_runs(session: Session, *, run_ids: Iterable[int]) -> int:
    """Delete runs with their metrics and artifacts; their children stay, with parent_id set NULL (as the FK says)."""
    ids = list(run_ids)
    session.execute(update(Run).where(Run.parent_id.in_(ids)).values(parent_id=None)
                    .execution_options(synchronize_session=False))
    result = session.execute(delete(Run).where(Run.id.in_(ids)).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)
