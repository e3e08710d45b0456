"""The history pages' one way into the run ledger: `db` query functions behind a briefly cached accessor.

Reads are cached for `TTL_S` seconds (a page change or a rerun costs no query); writes (archive, delete, import)
clear the cache so the next read sees them. Values returned are plain dataclasses and dicts, safe to cache.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.compare import COMPARED_KINDS, ComparedRun, compared_run
from core.errors import UserError
from core.ledger.transfer import csv_text, jsonl_text, parse_jsonl
from core.reports import TrainingRow, training_rows
from dashboard import resources
from db import make_engine, queries, session_scope
from db.queries import FilterOptions, ImportResult, LineageItem, RunFilters, RunPage
from db.records import run_to_record

TTL_S = 10
OPTIONS_TTL_S = 60  # the filters' choices (kinds, devices, ...) change rarely and cost a scan of the runs
COMPARED_RUNS_LIMIT = 500
TRAINING_RUNS_LIMIT = 100
CURVE_METRICS = ("train_loss", "val_loss", "val_map50", "images_per_sec")
MAX_IMPORT_BYTES = 50 * 1024 * 1024


@st.cache_resource
def _engine() -> Any:
    return make_engine(resources.ledger_url())


@contextmanager
def _session() -> Iterator[Any]:
    with session_scope(_engine()) as session:
        yield session


@dataclass(frozen=True)
class RunView:
    """A run's detail for the page: its portable record (params, environment, metrics, artifacts) and lineage."""

    id: int
    archived: bool
    record: dict[str, Any]
    ancestors: list[LineageItem]
    children: list[LineageItem]


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=64)
def page(filters: RunFilters, sort: str, descending: bool, offset: int, limit: int) -> RunPage:
    with _session() as session:
        return queries.page_runs(session, filters=filters, sort=sort, descending=descending, offset=offset,
                                 limit=limit)


@st.cache_data(ttl=OPTIONS_TTL_S, show_spinner=False)
def options() -> FilterOptions:
    with _session() as session:
        return queries.filter_options(session)


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=64)
def key_metrics(run_ids: tuple[int, ...]) -> dict[int, dict[str, float]]:
    found: dict[int, dict[str, float]] = {run_id: {} for run_id in run_ids}
    with _session() as session:
        for metric in queries.metrics_of_runs(session, run_ids=run_ids, key_only=True):
            found[metric.run_id][metric.name] = metric.value
    return found


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=32)
def detail(run_id: int) -> RunView | None:
    with _session() as session:
        found = queries.run_detail(session, run_id=run_id)
        if found is None:
            return None
        record = {**run_to_record(found.run, None), "parent_id": found.run.parent_id}
        return RunView(found.run.id, found.run.archived, record, found.ancestors, found.children)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def compared_runs() -> list[ComparedRun]:
    """The newest optimize and evaluation runs with their summary and per-class metrics (two statements)."""
    with _session() as session:
        rows = queries.page_runs(session, filters=RunFilters(kinds=COMPARED_KINDS, statuses=("succeeded",)),
                                 limit=COMPARED_RUNS_LIMIT).rows
        metrics: dict[int, list[Any]] = {row.id: [] for row in rows}
        for metric in queries.metrics_of_runs(session, run_ids=metrics):
            metrics[metric.run_id].append(metric)
    return [compared_run(row, metrics[row.id]) for row in rows]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def training_curves() -> pd.DataFrame:
    """Per-epoch values of the newest training runs as long rows: run, epoch, metric, value."""
    with _session() as session:
        rows = queries.page_runs(session, filters=RunFilters(kinds=("train",)), limit=TRAINING_RUNS_LIMIT).rows
        labels = {row.id: f"#{row.id} {Path(str(row.params.get('data', ''))).name} bs{row.params.get('batch_size')} "
                  f"({row.device})" for row in rows}
        metrics = queries.metrics_of_runs(session, run_ids=labels, names=CURVE_METRICS)
    return pd.DataFrame([{"run": labels[m.run_id], "epoch": m.epoch, "metric": m.name, "value": m.value}
                         for m in metrics if m.epoch is not None and m.class_name is None],
                        columns=["run", "epoch", "metric", "value"])


@st.cache_data(ttl=TTL_S, show_spinner=False)
def training_table_rows() -> list[TrainingRow]:
    return training_rows(resources.ledger_url())


def _records(run_ids: tuple[int, ...]) -> list[dict[str, Any]]:
    with _session() as session:
        return list(queries.export_records(session, run_ids=run_ids))


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=8)
def export_csv(run_ids: tuple[int, ...]) -> str:
    return csv_text(_records(run_ids))


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=8)
def export_jsonl(run_ids: tuple[int, ...]) -> str:
    return jsonl_text(_records(run_ids))


def _changed() -> None:
    for cached in (page, options, key_metrics, detail, compared_runs, training_curves, training_table_rows,
                   export_csv, export_jsonl):
        cached.clear()


def set_archived(run_ids: list[int], archived: bool) -> int:
    with _session() as session:
        changed = queries.set_archived(session, run_ids=run_ids, archived=archived)
    _changed()
    return changed


def delete(run_ids: list[int]) -> int:
    with _session() as session:
        deleted = queries.delete_runs(session, run_ids=run_ids)
    _changed()
    return deleted


def import_jsonl(name: str, data: bytes) -> ImportResult:
    """Merge an uploaded JSONL history in one transaction: a bad line is a UserError and nothing is imported. A
    Jetson's results.zip is imported with the accuracy of its engines computed here (core.jetson.results)."""
    if name.lower().endswith(".zip"):
        from core.jetson.results import import_archive

        summary = import_archive(name, data, resources.ledger_url())
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
    with _session() as session:
        result = queries.import_records(session, records=records)
    _changed()
    return result
