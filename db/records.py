"""The portable form of a run (plain JSON-ready dicts) used to export a history and merge it into another database.

A record names its parent by `parent_uuid`, never by a database id, so it means the same thing in any database.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from core.errors import UserError
from db.models import Artifact, Metric, Run, RunStatus

RUN_FIELDS = ("uuid", "kind", "status", "started_at", "finished_at", "params", "device", "host", "pid", "environment",
              "parent_uuid", "error")
METRIC_FIELDS = ("name", "value", "unit", "epoch", "class_name")
ARTIFACT_FIELDS = ("kind", "path", "sha256", "bytes", "format", "precision")
_REQUIRED = ("uuid", "kind", "status", "started_at")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise UserError(f"{field} is not an ISO date-time: {value!r}") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def run_to_record(run: Run, parent_uuid: str | None) -> dict[str, Any]:
    """A JSON-ready dict of `run` with its metrics and artifacts (their database ids left out)."""
    record: dict[str, Any] = {field: getattr(run, field) for field in RUN_FIELDS if field != "parent_uuid"}
    record["started_at"] = _iso(run.started_at)
    record["finished_at"] = _iso(run.finished_at)
    record["parent_uuid"] = parent_uuid
    record["metrics"] = [{field: getattr(metric, field) for field in METRIC_FIELDS} for metric in run.metrics]
    record["artifacts"] = [{field: getattr(artifact, field) for field in ARTIFACT_FIELDS} for artifact in run.artifacts]
    return record


def record_to_run(record: Any) -> Run:
    """A new, unsaved `Run` (with metrics and artifacts) from a record; its parent is linked by the caller."""
    if not isinstance(record, dict):
        raise UserError(f"a run record must be a JSON object, got {type(record).__name__}")
    missing = [field for field in _REQUIRED if not record.get(field)]
    if missing:
        raise UserError(f"run record lacks {', '.join(missing)}")
    status = str(record["status"])
    if status not in {member.value for member in RunStatus}:
        raise UserError(f"run {record['uuid']} has an unknown status {status!r}")
    try:
        metrics = [Metric(**{field: item.get(field) for field in METRIC_FIELDS})
                   for item in record.get("metrics") or []]
        artifacts = [Artifact(**{field: item.get(field) for field in ARTIFACT_FIELDS})
                     for item in record.get("artifacts") or []]
    except AttributeError as error:
        raise UserError(f"run {record['uuid']} has a metric or artifact that is not a JSON object") from error
    return Run(
        uuid=str(record["uuid"]),
        kind=str(record["kind"]),
        status=status,
        started_at=_parse_time(record["started_at"], "started_at"),
        finished_at=_parse_time(record.get("finished_at"), "finished_at"),
        params=record.get("params") or {},
        device=str(record.get("device") or ""),
        host=str(record.get("host") or ""),
        pid=record.get("pid"),
        environment=record.get("environment") or {},
        error=record.get("error"),
        metrics=metrics,
        artifacts=artifacts,
    )
