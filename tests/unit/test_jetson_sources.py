"""The Jetson program's sources run on JetPack 4.4's Python 3.6 and import nothing of the server: vermin finds no
construct newer than 3.6 in any file the program needs (and does find one when there is), every file compiles
under the real CPython 3.6, and no file imports `core` or `db`."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.jetson_envs import REPO_ROOT, SetupMissing, interpreter

PROGRAM = REPO_ROOT / "jetson_kit"
SOURCES = sorted(PROGRAM.glob("*.py"))
# the standard library (vermin checks each module and call exists in 3.6), numpy, TensorRT, pycuda, the program itself
ALLOWED_IMPORTS = set(sys.stdlib_module_names) | {"numpy", "tensorrt", "pycuda", "jetson_kit"}


def vermin(*paths: Path) -> subprocess.CompletedProcess:
    command = shutil.which("vermin")
    if command is None:
        pytest.fail("vermin is not installed: pip install -r requirements-dev.txt (scripts/setup.sh --dev)")
    return subprocess.run([command, "--no-tips", "--violations", "--eval-annotations", "-t=3.6-", *map(str, paths)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_vermin_finds_nothing_newer_than_python_3_6() -> None:
    assert SOURCES, "the Jetson program has no sources"
    done = vermin(*SOURCES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_vermin_would_catch_a_construct_newer_than_3_6(tmp_path: Path) -> None:
    newer = tmp_path / "newer.py"
    newer.write_text("from __future__ import annotations\nimport dataclasses\n\n\ndef f(x: list[int]):\n"
                     "    if (n := len(x)) > 1:\n        return n\n")
    assert vermin(newer).returncode != 0


def test_every_file_compiles_under_cpython_3_6(tmp_path: Path) -> None:
    try:
        python = interpreter("3.6")
    except SetupMissing as error:
        pytest.fail(str(error))
    script = "import py_compile, sys\nfor path in sys.argv[1:]:\n    py_compile.compile(path, doraise=True, " \
             f"cfile={str(tmp_path / 'x.pyc')!r})\n"
    done = subprocess.run([str(python), "-c", script, *map(str, SOURCES)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: path.name)
def test_the_program_imports_only_the_standard_library_numpy_tensorrt_pycuda(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module}
    assert imported <= ALLOWED_IMPORTS, f"{path.name} imports {sorted(imported - ALLOWED_IMPORTS)}"
    assert not imported & {"core", "db", "dashboard", "benchmarks", "cv2", "torch"}
