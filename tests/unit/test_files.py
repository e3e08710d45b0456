"""The one file digest: the sha256 of a file's bytes, whatever its size."""
from __future__ import annotations

import hashlib

from core.files.digest import file_sha256


def test_file_sha256_is_the_digest_of_the_bytes(tmp_path):
    data = bytes(range(256)) * 9000  # over 2 MB: read in more than one block
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    assert file_sha256(path) == file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
