"""The history's one door: `report optimize` reads a fixed number of statements however many runs the history holds,
kinds are stored as their text, and nothing outside the ledger reaches the database package or the settings."""
from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine, event

from benchmarks.history_fill import synthetic_records
from core.cli import main
from core.config import REPO_ROOT
from core.ledger import History, RunFilters, RunKind
from core.optimize.comparison import comparison_table, markdown_table, optimize_runs

PRODUCT_PACKAGES = ("core", "dashboard", "benchmarks")


def _statements_of(call) -> tuple[Counter, object]:
    """The statements `call()` sends to any database, by their first word, and what it returned."""
    counts: Counter = Counter()

    def count(*args) -> None:
        counts[args[2].split()[0].upper()] += 1

    event.listen(Engine, "before_cursor_execute", count)
    try:
        result = call()
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    return counts, result


def test_report_optimize_reads_a_fixed_number_of_statements(tmp_path: Path) -> None:
    """The invocation's runs are found by their optimize_id in SQL: no statement per optimize run."""
    small, large = (History.open(f"sqlite:///{tmp_path / name}.sqlite") for name in ("small", "large"))
    small.import_records(synthetic_records(80, 6))
    large.import_records(synthetic_records(2000, 6))  # 400 optimize runs in 50 invocations
    few, few_runs = _statements_of(lambda: optimize_runs(small))
    many, many_runs = _statements_of(lambda: optimize_runs(large))
    assert few == many and sum(many.values()) <= 4
    assert len(few_runs) == len(many_runs) == 8  # the newest invocation's runs, all of them
    assert {run.invocation for run in many_runs} == {"invocation-49"}
    table = markdown_table(comparison_table(None, many_runs))
    assert len(table.splitlines()) == 2 + 8
    for history in (small, large):
        history.close()


def test_report_optimize_of_a_run_finds_its_invocation_and_refuses_other_kinds(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    with History.open(url) as history:
        history.import_records(synthetic_records(120, 6))
        optimize_ids = [row.id for row in history.page(RunFilters(kinds=(RunKind.OPTIMIZE,)), sort="id",
                                                        descending=False, limit=200).rows]
        first = optimize_runs(history, run_id=optimize_ids[0])
    assert {run.invocation for run in first} == {"invocation-0"}
    assert main(["report", "--db-url", url, "optimize", "--run", "1"]) == 2
    assert "run 1 is not an optimize run" in capsys.readouterr().err


def test_a_kind_is_stored_as_its_text(tmp_path: Path) -> None:
    with History.open(f"sqlite:///{tmp_path / 'history.sqlite'}") as history:
        with history.record(RunKind.OPTIMIZE, {}) as run:
            pass
        stored = history.detail(run.id).run
        assert stored.kind == "optimize" and type(stored.kind) is str
        assert history.page(RunFilters(kinds=(RunKind.OPTIMIZE,))).total == 1
        assert history.records()[0]["kind"] == "optimize"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_the_ledger_reaches_the_database_package() -> None:
    """Pages, commands, benchmarks and the rest of the core read and write runs through `History` only."""
    offenders = []
    for package in PRODUCT_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if path.is_relative_to(REPO_ROOT / "core" / "ledger"):
                continue
            reached = {name for name in _imports(path) if name == "db" or name.startswith("db.")}
            if reached:
                offenders.append(f"{path.relative_to(REPO_ROOT)}: {', '.join(sorted(reached))}")
    assert offenders == []


def test_the_ledger_reads_no_settings() -> None:
    """The history's URL comes from whoever opens it (the CLI, the dashboard, a benchmark), never from a hidden
    settings read inside the ledger."""
    for path in sorted((REPO_ROOT / "core" / "ledger").glob("*.py")):
        assert "core.config" not in _imports(path), path.name
