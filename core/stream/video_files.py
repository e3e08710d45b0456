"""Video files a page may play: found under the configured data roots (bounded), named relative to their root, and
resolved the same way back, so a relative name means the data root's file, never one under the server's folder."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.errors import UserError

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".ts", ".h264", ".h265", ".hevc"})
MAX_VIDEO_FILES = 200
MAX_SCANNED_ENTRIES = 20_000  # a data root full of dataset images is not walked to the end on every page visit


@dataclass(frozen=True)
class VideoFile:
    name: str  # relative to the data root (or the absolute path, under another allowed root)
    path: Path


def _display_name(settings: Settings, path: Path) -> str:
    try:
        return path.relative_to(settings.data_root).as_posix()
    except ValueError:
        return str(path)


def find_video_files(settings: Settings, *, limit: int = MAX_VIDEO_FILES,
                     max_scanned: int = MAX_SCANNED_ENTRIES) -> list[VideoFile]:
    """Video files (by suffix) under every allowed root, sorted by name: at most `limit`, looking at no more than
    `max_scanned` directory entries; hidden folders and files are skipped, symlinks are not followed."""
    found: list[Path] = []
    scanned = 0
    pending = [root for root in settings.allowed_roots if root.is_dir()]
    while pending and len(found) < limit and scanned < max_scanned:
        folder = pending.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            scanned += 1
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False) and Path(entry.name).suffix.lower() in VIDEO_SUFFIXES:
                found.append(Path(entry.path))
    files = [VideoFile(_display_name(settings, path), path) for path in found[:limit]]
    return sorted(files, key=lambda file: file.name)


def resolve_video_file(settings: Settings, name: str) -> Path:
    """The file `name` means: a relative name under the data root, an absolute one as it is; a UserError unless it
    lies under an allowed root and is a file."""
    text = name.strip()
    if not text:
        raise UserError("no video file given")
    path = Path(text).expanduser()
    path = settings.confine(path if path.is_absolute() else settings.data_root / path)
    if not path.is_file():
        raise UserError(f"video file not found: {text}")
    return path
