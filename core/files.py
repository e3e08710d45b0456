"""File helpers every layer may use: the sha256 of a file's content, as the run history records artifacts and as
engine keys and pinned downloads identify what they were made from."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of the file's bytes, read in blocks (a model or dataset file need not fit in memory)."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
