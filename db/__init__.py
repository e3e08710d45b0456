"""The run ledger's storage: SQLAlchemy 2 models, engine/session factory, queries and Alembic migrations.

This package is the only place that knows SQL, and only the ledger (`core.ledger.History`, the history's one door)
uses it: it opens sessions with `session_scope(engine)` and passes them to the flat query functions in
`db.queries`, which never commit on their own.
"""
from __future__ import annotations

from db.engine import make_engine, session_scope
from db.models import Artifact, Base, Metric, Run, RunStatus

__all__ = ["Artifact", "Base", "Metric", "Run", "RunStatus", "make_engine", "session_scope"]
