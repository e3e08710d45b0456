"""The run ledger's storage: SQLAlchemy 2 models, engine/session factory, queries and Alembic migrations.

This package is the only place that knows SQL; callers open a session with `session_scope(engine)` and pass it to
the flat query functions in `db.queries`, which never commit on their own.
"""
from __future__ import annotations

from db.engine import make_engine, session_scope
from db.migrate import upgrade_to_head
from db.models import Artifact, Base, Metric, Run, RunStatus

__all__ = ["Artifact", "Base", "Metric", "Run", "RunStatus", "make_engine", "session_scope", "upgrade_to_head"]
