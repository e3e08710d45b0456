"""Quiet by default: the data root is 0700 and the run history 0600, new or made by an earlier version."""
from __future__ import annotations

import stat

from core.files.private import create_private_file, make_private_directory, tighten, write_private
from db.engine import make_engine


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_folders_and_files_are_private_whatever_the_umask(tmp_path) -> None:
    folder = make_private_directory(tmp_path / "a" / "b")
    assert _mode(folder) == _mode(folder.parent) == 0o700
    assert _mode(create_private_file(folder / "history.sqlite")) == 0o600
    assert _mode(write_private(tmp_path / "c" / "secret", b"x")) == 0o600 and _mode(tmp_path / "c") == 0o700


def test_tighten_takes_group_and_other_access_away(tmp_path) -> None:
    folder, file = tmp_path / "data", tmp_path / "data" / "history.sqlite"
    folder.mkdir()
    file.write_bytes(b"")
    folder.chmod(0o755)
    file.chmod(0o644)
    assert tighten(folder) and tighten(file) and not tighten(file)
    assert (_mode(folder), _mode(file)) == (0o700, 0o600)
    assert not tighten(tmp_path / "missing")


def test_the_sqlite_history_is_readable_by_its_owner_only(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'history.sqlite'}")
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x)")
    engine.dispose()
    assert _mode(tmp_path / "new") == 0o700 and _mode(tmp_path / "new" / "history.sqlite") == 0o600
    old = tmp_path / "old.sqlite"
    old.write_bytes(b"")
    old.chmod(0o644)  # made by an earlier version
    make_engine(f"sqlite:///{old}").dispose()
    assert _mode(old) == 0o600
