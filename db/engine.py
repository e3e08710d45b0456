"""Engine and session factory: SQLite gets WAL, foreign keys and a busy timeout; any other URL is used as given.

No engine exists at import time; callers create one with `make_engine(url)` and own its lifetime. A SQLite history
is readable by its owner only: a new file is made with mode 0600 (its new folder 0700), and an existing one (with
its WAL files) readable by other users is made so.

Any number of processes may open the same SQLite file at once, fresh or not. SQLite's busy handler covers ordinary
reads and writes, but not the switch to WAL (it needs the file to itself and fails at once with "database is
locked"), so that switch is made only when the file is not in WAL yet and is retried with a bounded backoff. A
database still locked after `BUSY_TIMEOUT_MS` is a `DatabaseLocked` error with a one-line message.
"""
from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session

from core.errors import UserError
from core.private_files import create_private_file, tighten

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 30_000
_FIRST_RETRY_S = 0.005
_LONGEST_RETRY_S = 0.25
_T = TypeVar("_T")


class DatabaseLocked(UserError):
    """Another process kept the run history locked for longer than the busy timeout."""


def _locked_message(detail: str, seconds: float | None = None) -> str:
    seconds = BUSY_TIMEOUT_MS / 1000 if seconds is None else seconds
    return (f"the run history stayed locked by another process for {seconds:g} s ({detail}); "
            "wait for it to finish or point EDS_DB_URL at another database")


def is_lock_error(error: BaseException) -> bool:
    """Whether `error` (a DBAPI error, or SQLAlchemy's wrapper of one) says the SQLite file is locked or busy."""
    cause = error.orig if isinstance(error, OperationalError) else error
    text = str(cause).lower()
    return isinstance(cause, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def retry_while_locked(operation: Callable[[], _T], *, timeout_s: float | None = None) -> _T:
    """Run `operation` again, after a growing jittered pause, while it fails because the file is locked.

    For the few SQLite statements its busy handler does not wait on; raises `DatabaseLocked` after `timeout_s`
    (default: the busy timeout).
    """
    timeout_s = BUSY_TIMEOUT_MS / 1000 if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_RETRY_S
    while True:
        try:
            return operation()
        except (sqlite3.OperationalError, OperationalError) as error:
            if not is_lock_error(error):
                raise
            if time.monotonic() + pause > deadline:
                raise DatabaseLocked(_locked_message(str(getattr(error, "orig", error)), timeout_s)) from error
        time.sleep(pause * random.uniform(0.5, 1.5))  # jitter: racing processes do not retry in lockstep
        pause = min(pause * 2, _LONGEST_RETRY_S)


def _journal_mode(cursor: sqlite3.Cursor) -> str:
    return str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def _ensure_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL unless it already is (the mode is stored in the file, so this happens once)."""
    if _journal_mode(cursor) in ("wal", "memory"):
        return
    mode = str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
    if mode != "wal":
        log.warning("SQLite kept journal mode %r instead of WAL", mode)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        retry_while_locked(lambda: _ensure_wal(cursor))
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; a SQLite file's folder is created and each connection gets the ledger's pragmas."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise UserError(f"not a database URL: {url!r} ({error})") from error
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        path = create_private_file(Path(parsed.database).expanduser())
        for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
            tighten(file)
    engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **kwargs)
    event.listen(engine, "connect", _configure_sqlite)
    return engine


@contextmanager
def locked_as_user_error() -> Iterator[None]:
    """Turn a SQLite "database is locked" that outlasted the busy timeout into a one-line `DatabaseLocked`."""
    try:
        yield
    except OperationalError as error:
        if is_lock_error(error):
            raise DatabaseLocked(_locked_message(str(error.orig))) from error
        raise


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit when the block ends normally, roll back on any exception."""
    with locked_as_user_error(), Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
