"""File helpers every layer may use: the sha256 of a file's content, as the run history records artifacts and as
engine keys and pinned downloads identify what they were made from.

Its one definition lives in the Jetson program (`jetson_kit.files`), which must run on JetPack's Python 3.6 without
anything of `core`; the server and the Jetson so hash the same way by construction."""
from __future__ import annotations

from jetson_kit.files import file_sha256

__all__ = ["file_sha256"]
