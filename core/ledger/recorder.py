"""Recording one run: every long job (training, export, quantization, engine build, evaluation, benchmark) runs
inside `History.record(...)`, so the history holds its parameters, environment, metrics, artifacts and how it ended.

Each write is its own short transaction, so a job killed at any point leaves everything recorded up to then, and
its run stays `running` until the next opening of the history (`sweep_interrupted`) finds the dead process and
marks it `interrupted`.
"""
from __future__ import annotations

import json
import logging
import socket
import uuid as uuid_module
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from core.errors import UserError
from core.files.digest import file_sha256
from core.ledger.environment import capture_environment
from core.ledger.liveness import is_alive, process_identity, same_machine
from db import queries
from db.engine import session_scope
from db.models import RunStatus

log = logging.getLogger(__name__)
DEAD_PROCESS_ERROR = "its process ended without recording a result (killed, crashed or powered off)"
_ERROR_LIMIT = 2000


def _now() -> datetime:
    return datetime.now(timezone.utc)


def sweep_interrupted(engine: Engine) -> int:
    """Mark runs of this machine whose process is gone as `interrupted`; returns how many."""
    with session_scope(engine) as session:
        candidates = [(run.id, {**run.environment.get("process", {}), "pid": run.pid})
                      for run in queries.running_on_host(session, host=socket.gethostname())]
    dead = [run_id for run_id, identity in candidates if same_machine(identity) and not is_alive(identity)]
    if not dead:
        return 0
    with session_scope(engine) as session:
        marked = queries.mark_interrupted(session, run_ids=dead, finished_at=_now(), error=DEAD_PROCESS_ERROR)
    log.warning("marked %d run(s) interrupted: their process ended without finishing", marked)
    return marked


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(params, default=str))


def _one_line(error: BaseException) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 1] + "…"


@dataclass(frozen=True)
class RecordedArtifact:
    path: Path
    sha256: str
    size: int


class RecordedRun:
    """The handle a job writes into: `metric(...)` and `artifact(...)`, each committed at once."""

    def __init__(self, engine: Engine, *, run_id: int, uuid: str, kind: str, parent_id: int | None) -> None:
        self._engine = engine
        self.id = run_id
        self.uuid = uuid
        self.kind = kind
        self.parent_id = parent_id

    def metric(self, name: str, value: float, *, unit: str | None = None, epoch: int | None = None,
               class_name: str | None = None) -> None:
        """Record a value; leave `epoch` and `class_name` out for the run's summary (key) metrics."""
        with session_scope(self._engine) as session:
            queries.add_metric(session, run_id=self.id, name=name, value=float(value), unit=unit, epoch=epoch,
                               class_name=class_name)

    def artifact(self, path: str | Path, *, kind: str = "output", format: str | None = None,
                 precision: str | None = None) -> RecordedArtifact:
        """Record a file the run read (`kind="input"`) or wrote (`"output"`) with its sha256 and size.

        An input that an earlier run wrote makes that run this run's parent (when none was given), so
        .pth -> ONNX -> INT8 ONNX -> engine links up into one lineage by content.
        """
        path = Path(path).resolve()
        if not path.is_file():
            raise UserError(f"artifact {path} is not a file")
        recorded = RecordedArtifact(path=path, sha256=file_sha256(path), size=path.stat().st_size)
        with session_scope(self._engine) as session:
            queries.add_artifact(session, run_id=self.id, kind=kind, path=str(path), sha256=recorded.sha256,
                                 size=recorded.size, format=format or path.suffix.lstrip(".").lower() or None,
                                 precision=precision)
            if kind == "input" and self.parent_id is None:
                producer = queries.producer_of(session, sha256=recorded.sha256, exclude_run_id=self.id)
                if producer is not None:
                    queries.set_parent(session, run_id=self.id, parent_id=producer)
                    self.parent_id = producer
        return recorded

    def finish(self, status: RunStatus, error: str | None = None) -> None:
        with session_scope(self._engine) as session:
            queries.finish_run(session, run_id=self.id, status=status, finished_at=_now(), error=error)


@contextmanager
def record_run(engine: Engine, kind: str, params: dict[str, Any] | None = None, *, parent_id: int | None = None,
               device: str | None = None) -> Iterator[RecordedRun]:
    """Record one job in the history behind `engine` (what `History.record` does; see there)."""
    environment = capture_environment()
    identity = process_identity()
    with session_scope(engine) as session:
        row = queries.create_run(
            session, uuid=str(uuid_module.uuid4()), kind=str(kind), params=_jsonable(params or {}),
            started_at=_now(), device=device or environment["device"], host=environment["host"],
            pid=identity["pid"], environment={**environment, "process": identity}, parent_id=parent_id,
        )
        run = RecordedRun(engine, run_id=row.id, uuid=row.uuid, kind=str(kind), parent_id=parent_id)
    log.info("run %d (%s) started", run.id, kind)
    try:
        yield run
    except KeyboardInterrupt:
        _finish_quietly(run, RunStatus.INTERRUPTED, "KeyboardInterrupt: stopped by the user")
        raise
    except BaseException as error:
        _finish_quietly(run, RunStatus.FAILED, _one_line(error))
        raise
    run.finish(RunStatus.SUCCEEDED)
    log.info("run %d (%s) succeeded", run.id, kind)


def _finish_quietly(run: RecordedRun, status: RunStatus, error: str) -> None:
    """Record how the job ended without hiding the job's own exception if the database write fails too."""
    try:
        run.finish(status, error)
    except Exception:
        log.exception("could not record the end of run %d", run.id)
    log.info("run %d (%s) %s: %s", run.id, run.kind, status.value, error)
