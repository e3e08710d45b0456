"""The layering of the design, read from the code: every import between the project's packages goes down, never up
or sideways, and the special rules hold (only the ledger knows `db`; pages import no heavy runtime; backends are
chosen by name through the detect registry; entry points never import each other; nothing imports the tests).

Layers, from the top down (a package may import only from layers below its own; the ground's modules may import each
other). Finer than the design's five, where the code showed an order inside a layer: the Jetson kit's packing uses
the optimize targets table; the ledger is below what records runs; the GStreamer pipeline texts are below the sources
that open them. The ground is the program's settings and errors and the packages every layer may use (files,
pictures, timing, the Triton names); the dashboard's access (password, sessions, certificate) stands on it alone.
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from core.config import REPO_ROOT

PRODUCT = ("core", "dashboard", "db", "benchmarks", "jetson_kit")
GROUND = ("core.config", "core.errors", "core.files", "core.pictures", "core.timing", "core.serve.names", "jetson_kit",
          "db")
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core.__main__",),
    ("dashboard", "core.commands", "core.cli", "benchmarks"),
    ("core.jetson",),
    ("core.live", "core.optimize", "core.serve"),
    ("core.ledger",),
    ("core.stream", "core.detect", "core.data"),
    ("core.gst",),
    ("core.model", "core.access"),
    GROUND,
)
BACKENDS = tuple(f"core.detect.{name}_backend" for name in ("torch", "onnxruntime", "tensorrt", "triton"))
HEAVY_RUNTIMES = ("torch", "cv2", "onnxruntime", "sqlalchemy", "tensorrt", "pycuda")
# Imports that break a rule today, each with its reason; the list may only shrink (it is empty: keep it so).
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> list[tuple[str, str]]:
    """(importing module, imported module) for every absolute import in the product code, migrations aside."""
    found = []
    for top in PRODUCT:
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            importer = _module_name(path)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found += [(importer, alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found += [(importer, node.module)]
                    found += [(importer, f"{node.module}.{alias.name}") for alias in node.names
                              if (REPO_ROOT / node.module.replace(".", "/") / f"{alias.name}.py").exists()]
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _layer(module: str) -> tuple[int, str] | None:
    """The layer index and package of a project module (None for third-party ones); the longest package that holds
    it decides (`core.serve.names` is ground inside `core.serve`)."""
    holders = [(len(package), index, package) for index, layer in enumerate(LAYERS) for package in layer
               if _within(module, package)]
    if not holders:
        return None
    _, index, package = max(holders)
    return index, package


IMPORTS = _imports()


def _broken(rule) -> list[str]:
    return sorted({f"{importer} imports {imported}" for importer, imported in IMPORTS
                   if rule(importer, imported) and (importer, imported) not in KNOWN_EXCEPTIONS})


def test_the_scan_sees_the_code() -> None:
    assert len(IMPORTS) > 1000 and ("core.live.pipeline", "core.stream.base") in IMPORTS


def test_every_project_module_has_a_layer() -> None:
    project = {module for pair in IMPORTS for module in pair if module.split(".")[0] in PRODUCT}
    assert sorted(module for module in project if _layer(module) is None) == []


def _upward_or_sideways(importer: str, imported: str) -> bool:
    above, below = _layer(importer), _layer(imported)
    if above is None or below is None or above[1] == below[1]:
        return False
    if above[0] == below[0] == len(LAYERS) - 1:
        return False  # the ground's modules use each other
    return below[0] <= above[0]


def test_imports_only_go_down() -> None:
    assert _broken(_upward_or_sideways) == []


def test_only_the_ledger_knows_the_database_package() -> None:
    assert _broken(lambda importer, imported: _within(imported, "db")
                   and not (_within(importer, "core.ledger") or _within(importer, "db"))) == []


def test_the_database_package_knows_nothing_of_recording() -> None:
    assert _broken(lambda importer, imported: _within(importer, "db") and _within(imported, "core.ledger")) == []


@pytest.mark.parametrize("entry", ["dashboard", "core.serve", "benchmarks"])
def test_backends_are_chosen_by_name_through_the_registry(entry: str) -> None:
    assert _broken(lambda importer, imported: _within(importer, entry)
                   and any(_within(imported, backend) for backend in BACKENDS)) == []


def test_pages_import_no_heavy_runtime() -> None:
    assert _broken(lambda importer, imported: _within(importer, "dashboard")
                   and imported.split(".")[0] in HEAVY_RUNTIMES) == []


def test_nothing_imports_the_tests_and_benchmarks_use_core_as_any_user() -> None:
    assert _broken(lambda importer, imported: imported.split(".")[0] == "tests") == []
    assert _broken(lambda importer, imported: _within(importer, "benchmarks")
                   and any(_within(imported, entry) for entry in ("core.commands", "core.cli", "dashboard"))) == []
    assert _broken(lambda importer, imported: not _within(importer, "dashboard") and _within(imported, "dashboard")) \
        == []


@pytest.mark.parametrize("module", sorted(f"benchmarks.{path.stem}" for path in (REPO_ROOT / "benchmarks").glob("*.py")
                                          if path.stem not in ("__init__", "__main__")))
def test_every_benchmark_imports(module: str) -> None:
    """A benchmark is run by hand, seldom: a module it imports that moved is found here, not on the day it runs."""
    importlib.import_module(module)
