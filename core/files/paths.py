"""Confinement of file paths to root folders: a path is resolved (symlinks followed) before it is compared."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from core.errors import UserError


def resolved_under(path: str | Path, roots: Iterable[str | Path]) -> Path | None:
    """`path` resolved, if it is one of `roots` or lies below one (each root resolved too); None otherwise."""
    resolved = Path(path).expanduser().resolve()
    for root in roots:
        root = Path(root).expanduser().resolve()
        if resolved == root or root in resolved.parents:
            return resolved
    return None


def confine(path: str | Path, root: str | Path) -> Path:
    """`path` resolved; a UserError if it leaves `root` (through `..` or a symlink)."""
    resolved = resolved_under(path, [root])
    if resolved is None:
        raise UserError(f"{path} resolves outside {root}; refusing to write there")
    return resolved
