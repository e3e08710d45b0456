"""Make Triton's Python-backend stub load this interpreter's libpython.

The stub PyTriton ships is linked against `libpython3.X.so`; the dynamic loader takes the first one it finds. With
another Python build than the system's (pyenv, conda, a venv of either), the stub then runs the wrong libpython and
the model fails to load (`'_thread.RLock' object has no attribute '_recursion_count'`). Putting this interpreter's
LIBDIR first on LD_LIBRARY_PATH before the server starts fixes that. No re-exec is needed: the loader reads the
variable when tritonserver and its stub start, and they are child processes that inherit our environment.
"""
from __future__ import annotations

import os
import sysconfig
from collections.abc import MutableMapping


def library_path_with_libdir(current: str | None, libdir: str | None) -> str | None:
    """`current` LD_LIBRARY_PATH with `libdir` moved to the front (unchanged when there is no LIBDIR)."""
    if not libdir:
        return current
    others = [entry for entry in (current or "").split(os.pathsep) if entry and entry != libdir]
    return os.pathsep.join([libdir, *others])


def put_libpython_first(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set LD_LIBRARY_PATH in `environ` (default: this process's, which the Triton server inherits)."""
    path = library_path_with_libdir(environ.get("LD_LIBRARY_PATH"), sysconfig.get_config_var("LIBDIR"))
    if path:
        environ["LD_LIBRARY_PATH"] = path
