"""The SQLite engine under lock contention: the WAL switch is retried, an existing WAL file is opened without
it, and a lock that outlasts the timeout is a one-line `DatabaseLocked`."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from db import engine as engine_module
from db.engine import DatabaseLocked, make_engine, retry_while_locked, session_scope


def _locked_file(path: Path, *, wal: bool) -> sqlite3.Connection:
    """A database at `path` that another connection holds a write transaction on. In rollback-journal mode that is
    what a second process meets while the first creates the file, and SQLite refuses the switch to WAL at once
    instead of waiting on its busy handler."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    if wal:
        holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("CREATE TABLE other_program (value)")
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_retry_while_locked_retries_only_lock_errors() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 4:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert retry_while_locked(flaky, timeout_s=5) == "done" and len(attempts) == 4

    def broken() -> None:
        attempts.append(1)
        raise sqlite3.OperationalError("no such table: runs")

    attempts.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry_while_locked(broken, timeout_s=5)
    assert len(attempts) == 1


def test_retry_while_locked_gives_up_with_a_one_line_user_error() -> None:
    def always_locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(DatabaseLocked, match="stayed locked by another process for 0.05 s") as raised:
        retry_while_locked(always_locked, timeout_s=0.05)
    assert "\n" not in str(raised.value)


def test_switch_to_wal_waits_for_a_brief_exclusive_lock(tmp_path: Path) -> None:
    """What a second process meets on a fresh file: the first one holds it while creating it."""
    database = tmp_path / "history.sqlite"
    holder = _locked_file(database, wal=False)
    release = threading.Timer(0.3, holder.commit)  # commit ends the write transaction
    release.start()
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        release.join()
        holder.close()
        engine.dispose()


def test_an_existing_wal_file_opens_while_another_process_writes(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    database = tmp_path / "history.sqlite"
    holder = _locked_file(database, wal=True)
    engine = make_engine(f"sqlite:///{database}")
    try:
        with session_scope(engine) as session:
            assert session.connection().exec_driver_sql("SELECT count(*) FROM other_program").scalar() == 0
    finally:
        holder.close()
        engine.dispose()


def test_a_write_blocked_past_the_timeout_is_database_locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    database = tmp_path / "history.sqlite"
    holder = _locked_file(database, wal=True)
    engine = make_engine(f"sqlite:///{database}")
    try:
        with pytest.raises(DatabaseLocked, match="0.2 s"), session_scope(engine) as session:
            session.connection().exec_driver_sql("INSERT INTO other_program VALUES (1)")
    finally:
        holder.close()
        engine.dispose()
