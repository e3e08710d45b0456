"""Flat query functions over the ledger; each takes a session and keyword-only arguments and never commits.

The caller owns the transaction (see `db.engine.session_scope`).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from db.models import Artifact, Metric, Run, RunStatus
from db.records import record_to_run, run_to_record

_LOOKUP_CHUNK = 500  # stays under every backend's limit on bound parameters


@dataclass(frozen=True)
class KeyMetric:
    value: float
    unit: str | None


@dataclass(frozen=True)
class RunSummary:
    """One row of a run listing: the run's columns plus its key metrics (those without epoch or class)."""

    id: int
    uuid: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    host: str
    device: str
    parent_id: int | None
    error: str | None
    metrics: dict[str, KeyMetric] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else (self.finished_at - self.started_at).total_seconds()


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
    """A run by database id, by uuid, or by a unique uuid prefix of at least 6 characters."""
    ref = ref.strip()
    if ref.isdigit():
        return get_run(session, run_id=int(ref))
    if len(ref) < 6:
        return None
    ids = session.scalars(select(Run.id).where(Run.uuid.startswith(ref, autoescape=True)).limit(2)).all()
    return get_run(session, run_id=ids[0]) if len(ids) == 1 else None


def child_ids(session: Session, *, run_id: int) -> list[int]:
    return list(session.scalars(select(Run.id).where(Run.parent_id == run_id).order_by(Run.id)))


def list_runs(
    session: Session, *, kind: str | None = None, status: str | None = None, limit: int = 100
) -> list[RunSummary]:
    """The latest `limit` runs (newest first) with their key metrics, in two indexed queries."""
    query = select(Run.id, Run.uuid, Run.kind, Run.status, Run.started_at, Run.finished_at, Run.host, Run.device,
                   Run.parent_id, Run.error)
    if kind is not None:
        query = query.where(Run.kind == kind)
    if status is not None:
        query = query.where(Run.status == status)
    rows = session.execute(query.order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)).all()
    metrics: dict[int, dict[str, KeyMetric]] = {row.id: {} for row in rows}
    if metrics:
        metric_rows = session.execute(
            select(Metric.run_id, Metric.name, Metric.value, Metric.unit)
            .where(Metric.run_id.in_(list(metrics)), Metric.epoch.is_(None), Metric.class_name.is_(None))
            .order_by(Metric.id)
        )
        for run_id, name, value, unit in metric_rows:
            metrics[run_id][name] = KeyMetric(value, unit)  # a later value of the same name wins
    return [RunSummary(**row._asdict(), metrics=metrics[row.id]) for row in rows]


def count_runs(session: Session, *, kind: str | None = None) -> int:
    query = select(func.count(Run.id))
    if kind is not None:
        query = query.where(Run.kind == kind)
    return int(session.scalar(query) or 0)


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


def export_records(session: Session, *, kind: str | None = None) -> Iterator[dict[str, Any]]:
    """Every run (oldest first) as a portable record with its metrics and artifacts."""
    query = select(Run).options(selectinload(Run.metrics), selectinload(Run.artifacts)).order_by(Run.started_at, Run.id)
    if kind is not None:
        query = query.where(Run.kind == kind)
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
