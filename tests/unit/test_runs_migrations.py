"""Alembic migrations of the ledger: upgrade from empty (opening the history) and from the previous revision, a schema
at the newest revision only read, and models match the migrations."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect

from core.ledger import History
from db.engine import make_engine
from db.migrate import alembic_config, current_revision, head_revision, upgrade_engine
from db.models import Base

INITIAL = "0001_initial"


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'history.sqlite'}")
    yield engine
    engine.dispose()


def test_revisions_form_one_chain_of_at_least_two() -> None:
    revisions = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    assert len(revisions) >= 2 and revisions[-1].revision == INITIAL and revisions[0].revision == head_revision()


def test_upgrade_from_empty_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'history.sqlite'}"
    History.open(url).close()
    History.open(url).close()  # idempotent
    engine = make_engine(url)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert {"runs", "artifacts", "metrics"} <= set(inspect(connection).get_table_names())
    engine.dispose()


def test_upgrade_from_previous_revision_keeps_data(engine) -> None:
    upgrade_engine(engine, INITIAL)
    with engine.begin() as connection:
        assert "pid" not in {column["name"] for column in inspect(connection).get_columns("runs")}
        connection.exec_driver_sql(
            "INSERT INTO runs (uuid, kind, status, started_at, params, device, host, environment) VALUES "
            "('u-1', 'export', 'succeeded', '2025-01-02 03:04:05', '{}', 'cpu', 'h', '{}')")
        connection.exec_driver_sql("INSERT INTO metrics (run_id, name, value) VALUES (1, 'fps', 12.5)")
    upgrade_engine(engine)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert connection.exec_driver_sql("SELECT uuid, pid FROM runs").all() == [("u-1", None)]
        assert connection.exec_driver_sql("SELECT value FROM metrics").scalar() == 12.5
        indexes = {index["name"] for index in inspect(connection).get_indexes("runs")}
        assert {"ix_runs_started_at", "ix_runs_kind_started_at", "ix_runs_status_host"} <= indexes


def test_a_schema_at_the_newest_revision_is_only_read(engine) -> None:
    upgrade_engine(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    upgrade_engine(engine)
    assert statements and all(statement.lstrip().upper().startswith(("SELECT", "PRAGMA")) for statement in statements)


def test_downgrade_to_previous_and_back(engine) -> None:
    upgrade_engine(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql(
            "INSERT INTO runs (uuid, kind, status, started_at, params, device, host, environment, pid) VALUES "
            "('u-2', 'train', 'running', '2025-01-02 03:04:05', '{}', 'cpu', 'h', '{}', 42)")
        command.downgrade(alembic_config(connection), INITIAL)
        connection.commit()
        assert current_revision(connection) == INITIAL
        assert connection.exec_driver_sql("SELECT uuid FROM runs").all() == [("u-2",)]
    upgrade_engine(engine)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()


def test_models_match_the_migrations(engine) -> None:
    upgrade_engine(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
