"""Atomic JSON writing for results other tools read."""
from __future__ import annotations

import json
from pathlib import Path

from core.files.atomic import write_text_atomic


def write_json(data: object, path: str | Path) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2) + "\n")
