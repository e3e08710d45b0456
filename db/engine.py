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
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session

from core.errors import UserError
from core.files.private import create_private_file, tighten
from core.timing.retry import backoff_delay

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
    failures = 0
    while True:
        try:
            return operation()
        except (sqlite3.OperationalError, OperationalError) as error:
            if not is_lock_error(error):
                raise
            failures += 1
            pause = backoff_delay(failures, first_s=_FIRST_RETRY_S, max_s=_LONGEST_RETRY_S)
            if time.monotonic() + pause > deadline:
                raise DatabaseLocked(_locked_message(str(getattr(error, "orig", error)), timeout_s)) from error
        time.sleep(pause * random.uniform(0.5, 1.5))  # jitter: racing processes do not retry in lockstep


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


class DatabaseUnreachable(UserError):
    """The run history's database could not be opened or connected to (no server, wrong host, no such file)."""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _refuse_failed_connects(engine: Engine, shown_url: str) -> None:
    """A connection that cannot be opened becomes a one-line `DatabaseUnreachable` instead of a driver traceback."""
    def on_error(context: ExceptionContext) -> None:
        if context.connection is None and context.statement is None and not context.is_pre_ping:
            raise DatabaseUnreachable(f"cannot open the run history at {shown_url}: "
                                      f"{_first_line(context.original_exception)}") from context.original_exception

    event.listen(engine, "handle_error", on_error)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; a SQLite file's folder is created and each connection gets the ledger's pragmas."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise UserError(f"not a database URL: {url!r} ({error})") from error
    shown_url = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
        _refuse_failed_connects(engine, shown_url)
        return engine
    if parsed.database and parsed.database != ":memory:":
        try:
            path = create_private_file(Path(parsed.database).expanduser())
        except OSError as error:
            raise DatabaseUnreachable(f"cannot create the run history {parsed.database}: {error.strerror}") from None
        for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
            tighten(file)
    engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **kwargs)
    event.listen(engine, "connect", _configure_sqlite)
    _refuse_failed_connects(engine, shown_url)
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
