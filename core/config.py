"""One typed settings object read from the environment (EDS_* variables); no I/O at import time."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
DEMO_DIR = ASSETS_DIR / "demo"
SAMPLES_DIR = ASSETS_DIR / "samples"


def _paths(value: str) -> tuple[Path, ...]:
    return tuple(Path(part).expanduser().resolve() for part in value.split(os.pathsep) if part.strip())


@dataclass(frozen=True)
class Settings:
    """Where data lives and which files the app may open.

    - `data_root`: the project's working folder (run history DB, exports, downloaded datasets).
    - `allowed_roots`: every file the dashboard opens must lie under one of these (plus the bundled assets).
    - `db_url`: any SQLAlchemy URL; empty means a SQLite file in `data_root`.
    """

    data_root: Path
    allowed_roots: tuple[Path, ...]
    db_url: str = ""

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_root / 'history.sqlite'}"

    def confine(self, path: str | Path) -> Path:
        """Resolve `path` and refuse it unless it lies under an allowed root (symlinks resolved first)."""
        resolved = Path(path).expanduser().resolve()
        for root in (*self.allowed_roots, ASSETS_DIR.resolve()):
            if resolved == root or root in resolved.parents:
                return resolved
        roots = ", ".join(str(r) for r in self.allowed_roots)
        raise UserError(f"{path} is outside the configured data roots ({roots}); set EDS_ALLOWED_ROOTS to allow it")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from EDS_DATA_ROOT (default ./data), EDS_ALLOWED_ROOTS (os.pathsep list), EDS_DB_URL."""
    env = os.environ if environ is None else environ
    data_root = Path(env.get("EDS_DATA_ROOT", "data")).expanduser().resolve()
    allowed = _paths(env.get("EDS_ALLOWED_ROOTS", "")) or (data_root,)
    return Settings(data_root=data_root, allowed_roots=allowed, db_url=env.get("EDS_DB_URL", ""))
