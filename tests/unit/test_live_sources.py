"""What the Live page may open: video files under the data roots (listed, bounded, named relative to the root and
resolved against it, not the server's folder) and configured streams on allowed UDP ports only."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import UserError
from core.stream.sources import parse_source_uri
from core.stream.video_files import find_video_files, resolve_video_file
from dashboard.components.sources import checked_stream_source


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0")
    return path


def test_video_files_are_listed_relative_to_the_data_root(isolated_data_root: Path) -> None:
    for name in ("clips/b.MP4", "a.mkv", "clips/deep/c.h265", ".hidden/d.mp4", "clips/.e.mp4", "notes.txt"):
        _touch(isolated_data_root / name)
    files = find_video_files(load_settings())
    assert [file.name for file in files] == ["a.mkv", "clips/b.MP4", "clips/deep/c.h265"]
    assert files[0].path == isolated_data_root / "a.mkv"
    assert len(find_video_files(load_settings(), limit=2)) == 2
    assert find_video_files(load_settings(), max_scanned=2) == [files[0]]  # stops looking, returns what it saw


def test_a_relative_name_means_the_data_roots_file_whatever_the_servers_folder(
        isolated_data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = _touch(isolated_data_root / "clips" / "b.mp4")
    _touch(tmp_path / "clips" / "b.mp4")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert resolve_video_file(settings, "clips/b.mp4") == clip
    assert resolve_video_file(settings, str(clip)) == clip
    with pytest.raises(UserError, match="outside the configured data roots"):
        resolve_video_file(settings, str(tmp_path / "clips" / "b.mp4"))
    with pytest.raises(UserError, match="outside the configured data roots"):
        resolve_video_file(settings, "../../etc/passwd")
    with pytest.raises(UserError, match="not found"):
        resolve_video_file(settings, "clips/missing.mp4")


def test_rtp_streams_only_on_allowed_ports() -> None:
    rtp = checked_stream_source("rtp://0.0.0.0:5002?codec=auto", (5000, 5002))
    assert (rtp.uri, rtp.kind, rtp.port) == ("rtp://0.0.0.0:5002?codec=auto", "rtp", 5002)
    assert checked_stream_source("demo:", (5000,)) == parse_source_uri("demo:")
    with pytest.raises(UserError, match="UDP port 6000 is not one this server may bind"):
        checked_stream_source("rtp://0.0.0.0:6000?codec=auto", (5000, 5002))
    for uri in ("rtp://0.0.0.0:22", "rtp://0.0.0.0:notaport", "rtp://0.0.0.0:5000; rm", "rtp://0.0.0.0:5000?codec=mjpeg"):
        with pytest.raises(UserError):
            checked_stream_source(uri, (5000,))
