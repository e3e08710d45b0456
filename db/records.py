"""The portable form of a run (plain JSON-ready dicts) used to export a history and merge it into another database.

A record names its parent by `parent_uuid`, never by a database id, so it means the same thing in any database.
A record from outside (an imported file) is checked by `validate_record` before it becomes a `Run`.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from core.errors import UserError
from db.models import Artifact, Metric, Run, RunStatus

RUN_FIELDS = ("uuid", "kind", "status", "started_at", "finished_at", "params", "device", "host", "pid", "environment",
              "parent_uuid", "error")
METRIC_FIELDS = ("name", "value", "unit", "epoch", "class_name")
ARTIFACT_FIELDS = ("kind", "path", "sha256", "bytes", "format", "precision")
RECORD_FIELDS = (*RUN_FIELDS, "metrics", "artifacts")
_REQUIRED = ("uuid", "kind", "status", "started_at")
MAX_JSON_DEPTH = 32  # nesting of params and environment, each (an object of numbers is 1)
MAX_JSON_CHARS = 64 * 1024  # params and environment, each, written as JSON
MAX_TEXT_CHARS = 16 * 1024  # a text column without a declared length (error, artifact path)
_INT32 = 2**31 - 1
_INT64 = 2**63 - 1
_SHOWN_CHARS = 40
_SHOWN_FIELDS = 3


def _describe(value: Any) -> str:
    """A JSON value named the way a person reading the file sees it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return f"the text {value[:_SHOWN_CHARS]!r}" + ("..." if len(value) > _SHOWN_CHARS else "")
    return repr(value)


def json_depth(value: Any) -> int:
    """How deeply objects and arrays nest in `value` (0 for a scalar); iterative, so any depth can be measured."""
    deepest, pending = 0, [(value, 1)] if isinstance(value, (dict, list)) else []
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
                       if isinstance(child, (dict, list)))
    return deepest


def _limits(model: type, *fields: str) -> dict[str, int]:
    """The longest text each column holds: its declared length, or MAX_TEXT_CHARS for an unbounded Text."""
    return {field: getattr(model.__table__.c[field].type, "length", None) or MAX_TEXT_CHARS for field in fields}


_RUN_LIMITS = _limits(Run, "uuid", "kind", "device", "host", "error")
_METRIC_LIMITS = _limits(Metric, "name", "unit", "class_name")
_ARTIFACT_LIMITS = _limits(Artifact, "kind", "path", "sha256", "format", "precision")


def _check_text(value: Any, name: str, limit: int, *, required: bool = False) -> None:
    if value is None or (required and value == ""):
        if required:
            raise UserError(f"{name} is missing")
        return
    if not isinstance(value, str):
        raise UserError(f"{name} must be text, not {_describe(value)}")
    if len(value) > limit:
        raise UserError(f"{name} is {len(value)} characters long (at most {limit})")
    if "\x00" in value:
        raise UserError(f"{name} contains a NUL character")


def _check_whole(value: Any, name: str, minimum: int, maximum: int, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise UserError(f"{name} is missing")
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name} must be a whole number, not {_describe(value)}")
    if not minimum <= value <= maximum:
        raise UserError(f"{name} must lie between {minimum} and {maximum}, not {value}")


def _check_json_object(value: Any, name: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise UserError(f"{name} must be an object, not {_describe(value)}")
    depth = json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise UserError(f"{name} nests {depth} levels deep (at most {MAX_JSON_DEPTH})")
    try:
        size = len(json.dumps(value, allow_nan=False))
    except ValueError:
        raise UserError(f"{name} contains NaN or Infinity, which JSON columns cannot hold") from None
    if size > MAX_JSON_CHARS:
        raise UserError(f"{name} is {size} characters of JSON (at most {MAX_JSON_CHARS})")


def _items(value: Any, field: str, item_name: str) -> list[tuple[str, dict[str, Any]]]:
    """The objects of an array field, each with its name for messages ("metric 3")."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise UserError(f"{field} must be an array, not {_describe(value)}")
    named = [(f"{item_name} {number}", item) for number, item in enumerate(value, start=1)]
    for name, item in named:
        if not isinstance(item, dict):
            raise UserError(f"{name} must be an object, not {_describe(item)}")
    return named


def _unknown_fields(item: dict[str, Any], known: tuple[str, ...], name: str) -> None:
    unknown = item.keys() - set(known)
    if unknown:
        shown = ", ".join(repr(key[:_SHOWN_CHARS]) for key in sorted(unknown)[:_SHOWN_FIELDS])
        more = f" and {len(unknown) - _SHOWN_FIELDS} more" if len(unknown) > _SHOWN_FIELDS else ""
        raise UserError(f"{name} has unknown field(s) {shown}{more} (expected {', '.join(known)})")


def _check_metric(metric: dict[str, Any], name: str) -> None:
    _unknown_fields(metric, METRIC_FIELDS, name)
    _check_text(metric.get("name"), f"{name} name", _METRIC_LIMITS["name"], required=True)
    value = metric.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{name} value must be a number, not {_describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise UserError(f"{name} value {value} is too large for a float") from None
    if math.isnan(number):
        raise UserError(f"{name} value is NaN, which the history cannot hold")
    _check_text(metric.get("unit"), f"{name} unit", _METRIC_LIMITS["unit"])
    _check_whole(metric.get("epoch"), f"{name} epoch", -_INT32, _INT32)
    _check_text(metric.get("class_name"), f"{name} class_name", _METRIC_LIMITS["class_name"])


def _check_artifact(artifact: dict[str, Any], name: str) -> None:
    _unknown_fields(artifact, ARTIFACT_FIELDS, name)
    for field in ("kind", "path", "sha256"):
        _check_text(artifact.get(field), f"{name} {field}", _ARTIFACT_LIMITS[field], required=True)
    _check_whole(artifact.get("bytes"), f"{name} bytes", 0, _INT64, required=True)
    for field in ("format", "precision"):
        _check_text(artifact.get(field), f"{name} {field}", _ARTIFACT_LIMITS[field])


def validate_record(record: Any) -> dict[str, Any]:
    """`record` if it is a complete, well-typed run record within the size bounds; else a one-line UserError.

    Checked before anything reaches the database: field names, JSON types, text lengths (the columns' own), whole
    numbers in the columns' range, finite metric values, ISO date-times, and bounded params/environment JSON.
    """
    if not isinstance(record, dict):
        raise UserError(f"a run record must be a JSON object, not {_describe(record)}")
    missing = [field for field in _REQUIRED if record.get(field) in (None, "")]
    if missing:
        raise UserError(f"the run record lacks {', '.join(missing)}")
    _unknown_fields(record, RECORD_FIELDS, "the run record")
    _check_text(record["uuid"], "uuid", _RUN_LIMITS["uuid"], required=True)
    _check_text(record["kind"], "kind", _RUN_LIMITS["kind"], required=True)
    if record["status"] not in {member.value for member in RunStatus}:
        raise UserError(f"unknown status {_describe(record['status'])} "
                        f"(expected {', '.join(member.value for member in RunStatus)})")
    _parse_time(record["started_at"], "started_at")
    _parse_time(record.get("finished_at"), "finished_at")
    for field in ("device", "host", "error"):
        _check_text(record.get(field), field, _RUN_LIMITS[field])
    _check_text(record.get("parent_uuid"), "parent_uuid", _RUN_LIMITS["uuid"])
    _check_whole(record.get("pid"), "pid", 0, _INT32)
    for field in ("params", "environment"):
        _check_json_object(record.get(field), field)
    for name, metric in _items(record.get("metrics"), "metrics", "metric"):
        _check_metric(metric, name)
    for name, artifact in _items(record.get("artifacts"), "artifacts", "artifact"):
        _check_artifact(artifact, name)
    return record


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserError(f"{field} must be an ISO date-time text, not {_describe(value)}")
    try:
        parsed = datetime.fromisoformat(value)
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        parsed.astimezone(timezone.utc)  # a zone offset can push year 1 or 9999 out of range
    except (ValueError, OverflowError):
        raise UserError(f"{field} is not an ISO date-time: {_describe(value)}") from None
    return parsed


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
    record = validate_record(record)
    return Run(
        uuid=record["uuid"],
        kind=record["kind"],
        status=record["status"],
        started_at=_parse_time(record["started_at"], "started_at"),
        finished_at=_parse_time(record.get("finished_at"), "finished_at"),
        params=record.get("params") or {},
        device=record.get("device") or "",
        host=record.get("host") or "",
        pid=record.get("pid"),
        environment=record.get("environment") or {},
        error=record.get("error"),
        metrics=[Metric(**{field: item.get(field) for field in METRIC_FIELDS}) for item in record.get("metrics") or []],
        artifacts=[Artifact(**{field: item.get(field) for field in ARTIFACT_FIELDS})
                   for item in record.get("artifacts") or []],
    )
