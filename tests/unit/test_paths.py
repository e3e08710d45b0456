"""Confinement under roots (symlinks resolved first) and atomic writes that refuse folders and planted links."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import UserError
from core.files.atomic import write_text_atomic
from core.files.paths import confine, resolved_under


def test_a_path_is_confined_after_resolving_dots_and_symlinks(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "inner").mkdir(parents=True)
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    assert confine(root / "inner" / "x.jpg", root) == (root / "inner" / "x.jpg").resolve()
    assert resolved_under(root, [root]) == root.resolve()
    for escaping in (root / "inner" / ".." / ".." / "outside" / "x", root / "link" / "x", outside):
        assert resolved_under(escaping, [root]) is None
        with pytest.raises(UserError, match="resolves outside"):
            confine(escaping, root)
    assert resolved_under(root / "link" / "x", [root, outside]) == (outside / "x").resolve()


def test_atomic_write_refuses_a_folder_and_a_folder_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("kept")
    with pytest.raises(UserError, match="is a folder; give a file name"):
        write_text_atomic(tmp_path / "folder", "x")
    with pytest.raises(UserError, match="cannot make the folder"):
        write_text_atomic(tmp_path / "file" / "deeper" / "x.json", "x")
    assert (tmp_path / "file").read_text() == "kept" and list((tmp_path / "folder").iterdir()) == []


def test_atomic_write_never_writes_through_a_link_planted_at_its_temporary_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / ".out.json.tmp").symlink_to(victim)
    write_text_atomic(tmp_path / "out.json", "{}")
    assert victim.read_text() == "precious" and (tmp_path / "out.json").read_text() == "{}"
    assert not (tmp_path / ".out.json.tmp").exists()
