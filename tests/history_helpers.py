"""Reading back what a test recorded, through the history's door: runs with their metrics and artifacts."""
from __future__ import annotations

from typing import Any

from core.config import load_settings
from core.ledger import History, RunFilters

MAX_RUNS = 1000


def recorded_runs(url: str | None = None, kind: str | None = None) -> list[Any]:
    """Every run (newest first; of `kind` if given) at `url`, default the settings' history, each with its metrics
    and artifacts loaded."""
    with History.open(url or load_settings().database_url) as history:
        rows = history.page(RunFilters(kinds=(kind,) if kind else (), archived=None), limit=MAX_RUNS).rows
        return [history.detail(row.id).run for row in rows]


def recorded_run(run_id: int, url: str | None = None) -> Any:
    """Run `run_id` at `url` (default the settings' history) with its metrics and artifacts loaded."""
    with History.open(url or load_settings().database_url) as history:
        return history.detail(run_id).run


def markdown_rows(table: str) -> list[dict[str, str]]:
    """The rows of a Markdown table (`report optimize`, the Compare page's copy) as {header: cell}."""
    lines = [line for line in table.strip().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]
