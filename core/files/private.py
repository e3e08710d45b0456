"""Files and folders only this user may read: the data root (0700), the run history, secrets and keys (0600).

New ones are created with these modes whatever the umask; `tighten` takes group and other access away from an
existing one this user owns (a data root or history made by an earlier version, 0755 and 0644).
"""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from core.files.atomic import atomic_path

log = logging.getLogger(__name__)

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def make_private_directory(path: str | Path) -> Path:
    """Create `path` (and missing parents) readable by this user only; an existing folder is left as it is."""
    path = Path(path)
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process or thread
        os.chmod(folder, DIRECTORY_MODE)  # mkdir's mode is masked by the umask
    return path


def create_private_file(path: str | Path) -> Path:
    """Create `path` empty with mode 0600 if it does not exist (an empty file is a valid SQLite database)."""
    path = Path(path)
    make_private_directory(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    return path


def write_private(path: str | Path, data: bytes) -> Path:
    """Write `path` whole (temporary file, then rename) with mode 0600, its folder made private if missing."""
    path = Path(path)
    make_private_directory(path.parent)
    with atomic_path(path) as temporary:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    return path


def tighten(path: str | Path) -> bool:
    """Take group and other access away from `path` if this user owns it; whether its mode changed."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        return False
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077 or info.st_uid != os.getuid():
        return False
    os.chmod(path, mode & 0o700)
    log.info("%s was readable by other users (mode %o); now %o", path, mode, mode & 0o700)
    return True
