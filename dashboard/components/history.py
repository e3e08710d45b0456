"""The history pages' reads and writes, through the server's one `History` (dashboard.resources.history).

Reads are cached for `TTL_S` seconds (a page change or a rerun costs no query); writes (archive, delete, import)
clear the cache so the next read sees them. Values returned are plain dataclasses, dicts and frames, safe to cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.ledger import FilterOptions, ImportResult, LineageItem, RunFilters, RunPage
from core.ledger.training_speed import TrainingRow
from core.ledger.transfer import csv_text, jsonl_text, parse_jsonl
from core.optimize import comparison
from core.optimize.comparison import ComparedRun
from dashboard import resources

TTL_S = 10
OPTIONS_TTL_S = 60  # the filters' choices (kinds, devices, ...) change rarely and cost a scan of the runs
MAX_IMPORT_BYTES = 50 * 1024 * 1024
RECORD_FIELDS = ("uuid", "kind", "status", "started_at", "finished_at", "params", "device", "host", "pid",
                 "environment", "error", "parent_id")


@dataclass(frozen=True)
class RunView:
    """A run's detail for the page: its fields, metrics and artifacts as plain values, and its lineage."""

    id: int
    archived: bool
    record: dict[str, Any]
    metrics: pd.DataFrame  # name, value, unit, epoch, class_name (recording order)
    artifacts: pd.DataFrame  # kind, format, precision, bytes, sha256, path
    ancestors: list[LineageItem]
    children: list[LineageItem]


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=64)
def page(filters: RunFilters, sort: str, descending: bool, offset: int, limit: int) -> RunPage:
    """One page of the listing, each row with its key metrics."""
    return resources.history().page(filters, sort=sort, descending=descending, offset=offset, limit=limit,
                                     key_metrics=True)


@st.cache_data(ttl=OPTIONS_TTL_S, show_spinner=False)
def options() -> FilterOptions:
    return resources.history().filter_options()


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=32)
def detail(run_id: int) -> RunView | None:
    found = resources.history().detail(run_id)
    if found is None:
        return None
    run = found.run
    record = {field: getattr(run, field) for field in RECORD_FIELDS}
    metrics = pd.DataFrame([(m.name, m.value, m.unit, m.epoch, m.class_name) for m in run.metrics],
                           columns=["name", "value", "unit", "epoch", "class_name"])
    artifacts = pd.DataFrame([(a.kind, a.format, a.precision, a.bytes, a.sha256, a.path) for a in run.artifacts],
                             columns=["kind", "format", "precision", "bytes", "sha256", "path"])
    return RunView(run.id, run.archived, record, metrics, artifacts, found.ancestors, found.children)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def compared_runs() -> list[ComparedRun]:
    """The newest optimize and evaluation runs with their summary and per-class metrics (two statements)."""
    return comparison.compared_runs(resources.history())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def training_curves() -> pd.DataFrame:
    """Per-epoch values of the newest training runs as long rows: run, epoch, metric, value."""
    return resources.history().training_curves()


@st.cache_data(ttl=TTL_S, show_spinner=False)
def training_table_rows() -> list[TrainingRow]:
    return resources.history().training_rows()


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=8)
def export_csv(run_ids: tuple[int, ...]) -> str:
    return csv_text(resources.history().records(run_ids=run_ids))


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=8)
def export_jsonl(run_ids: tuple[int, ...]) -> str:
    return jsonl_text(resources.history().records(run_ids=run_ids))


def _changed() -> None:
    for cached in (page, options, detail, compared_runs, training_curves, training_table_rows, export_csv,
                   export_jsonl):
        cached.clear()


def set_archived(run_ids: list[int], archived: bool) -> int:
    changed = resources.history().set_archived(run_ids, archived)
    _changed()
    return changed


def delete(run_ids: list[int]) -> int:
    deleted = resources.history().delete(run_ids)
    _changed()
    return deleted


def import_jsonl(name: str, data: bytes) -> ImportResult:
    """Merge an uploaded JSONL history in one transaction: a bad line is a UserError and nothing is imported. A
    Jetson's results.zip is imported with the accuracy of its engines computed here (core.jetson.results)."""
    if name.lower().endswith(".zip"):
        from core.jetson.results import import_archive

        summary = import_archive(name, data, resources.history())
        _changed()
        return ImportResult(summary.added, summary.skipped)
    if len(data) > MAX_IMPORT_BYTES:
        raise UserError(f"{name} is {len(data) / 1e6:.1f} MB; the page imports up to {MAX_IMPORT_BYTES // 2**20} MiB "
                        "(use `python -m core runs import` for larger files)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{name} is not UTF-8 text ({error.reason} at byte {error.start})") from error
    records = parse_jsonl(text, name)
    result = resources.history().import_records(records)
    _changed()
    return result
