"""Schema upgrades through Alembic's Python API: no alembic.ini to find, the migrations ship inside this package.

`upgrade_engine(engine)` is what the ledger's `History` calls when it is opened. Concurrent starts are serialized
with a database-level lock (SQLite: an immediate write transaction, which waits on SQLite's busy handler; PostgreSQL: an
advisory lock), so two processes opening a fresh database never both try to create the tables. A SQLite file that
stays locked past the busy timeout is a one-line `DatabaseLocked` error.
"""
from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from db.engine import locked_as_user_error

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x6564735F  # any constant shared by every process that migrates this schema


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations; `connection` is handed to env.py if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Bring the schema behind `engine` to `revision` (default: the newest) in one locked transaction; a schema
    already at the newest revision is only read (no lock, no write), so every start after the first is cheap."""
    with locked_as_user_error(), engine.connect() as connection:
        if revision == "head" and current_revision(connection) == head_revision():
            return
        connection.rollback()  # the lock below must open the transaction
        _lock(connection)
        before = current_revision(connection)
        command.upgrade(alembic_config(connection), revision)
        connection.commit()
        after = current_revision(connection)
    if before != after:
        log.info("database schema upgraded from %s to %s", before, after)
