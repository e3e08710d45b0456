"""Runs page: the run history as a filtered, sorted table paged in the database, with each run's key figures
(latency, mAP, images/sec) as columns; a run's detail (metrics grouped by kind, parameters, artifacts, lineage);
archive, delete, export (CSV, JSONL) and import (JSONL)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.ledger import SORT_KEYS, LineageItem, RunFilters, RunRow
from core.ledger.display import duration_text, key_figures, metric_text, significant
from dashboard.components import history, inline, login
from dashboard.components.text import plain

ALL = "(all)"
PAGE_SIZES = (25, 50, 100, 200)
TIME_FORMAT = "%Y-%m-%d %H:%M"
# The listing's number columns: how each reads (printf-style); a run without the figure shows MISSING.
MISSING = "–"
NUMBER_COLUMNS = {"duration s": "%.1f", "latency ms": "%.2f", "mAP@0.5": "%.4f", "img/s": "%.0f"}
STATUS_COLORS = {"succeeded": "green", "failed": "red", "interrupted": "orange", "running": "blue"}
CELL_COLORS = {"green": "#21c354", "red": "#ff4b4b", "orange": "#ffa421", "blue": "#1c83e1"}
_DONE = "runs_done_message"
_GENERATION = "runs_table_generation"
FIRST_RUN = ("python -m core dataset synth data/demo && python -m core evaluate --weights "
             "assets/demo/mb1-ssd-demo-fp16.pth --labels assets/demo/labels.txt --data data/demo")


def _choice(column: Any, label: str, values: list[str], key: str) -> str | None:
    picked = column.selectbox(label, [ALL, *values], key=key)
    return None if picked == ALL else picked


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight of `day` in the server's time zone, the one the table's times are shown in."""
    return dt.datetime.combine(day, dt.time()).astimezone()


def _filters() -> RunFilters:
    options = history.options()
    with st.expander("Filters", expanded=False):
        first = st.columns(4)
        kinds = first[0].multiselect("Kind", options.kinds, key="runs_kinds")
        statuses = first[1].multiselect("Status", options.statuses, key="runs_statuses")
        model = _choice(first[2], "Model", options.models, "runs_model")
        target = _choice(first[3], "Target", options.targets, "runs_target")
        second = st.columns(4)
        precision = _choice(second[0], "Precision", options.precisions, "runs_precision")
        device = _choice(second[1], "Device", options.devices, "runs_device")
        host = _choice(second[2], "Host", options.hosts, "runs_host")
        dates = second[3].date_input("Started between", value=(), key="runs_dates")
        archived = st.radio("Show", ["active runs", "archived runs", "all runs"], horizontal=True, key="runs_archived")
    start, end = (list(dates) + [None, None])[:2] if isinstance(dates, (tuple, list)) else (dates, None)
    return RunFilters(
        kinds=tuple(kinds), statuses=tuple(statuses), model=model, target=target, precision=precision, device=device,
        host=host, started_from=_day_start(start) if start else None,
        started_before=_day_start(end + dt.timedelta(days=1)) if end else None,
        archived={"active runs": False, "archived runs": True}.get(archived),
    )


def _started(row: RunRow | dict[str, Any]) -> str:
    started = row["started_at"] if isinstance(row, dict) else row.started_at
    return started.astimezone().strftime(TIME_FORMAT)


def _table(rows: list[RunRow]) -> pd.DataFrame:
    return pd.DataFrame([{
        "id": row.id, "status": f"● {row.status}" + (" · archived" if row.archived else ""), "kind": row.kind,
        "target": row.target or "", "device": row.device, **key_figures(row.metrics),
        "started": _started(row), "duration s": row.duration_s,
        "model": Path(row.model).name if row.model else "", "precision": row.precision or "", "host": row.host,
    } for row in rows])


def _status_style(cell: str) -> str:
    color = STATUS_COLORS.get(cell.removeprefix("● ").split(" · ")[0])
    return f"color: {CELL_COLORS[color]}; font-weight: bold" if color else ""


def _run_name(row: RunRow) -> str:
    """How the detail picker names a run: id, kind, target (or model) and start."""
    subject = row.target or (Path(row.model).name if row.model else "")
    return " · ".join(part for part in (f"#{row.id}", row.kind, subject, _started(row)) if part)


def _paging(total: int, filters: RunFilters) -> tuple[str, bool, int, int]:
    columns = st.columns([2, 1, 1, 1])
    sort = columns[0].selectbox("Sort by", SORT_KEYS, index=SORT_KEYS.index("started_at"), key="runs_sort")
    descending = columns[1].toggle("Descending", value=True, key="runs_descending")
    size = columns[2].selectbox("Rows per page", PAGE_SIZES, index=1, key="runs_page_size")
    pages = max(1, -(-total // size))
    number = columns[3].number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1,
                                     key=f"runs_page_{hash((filters, size))}")  # back to page 1 on a new filter
    return sort, descending, (int(number) - 1) * size, size


def _done(message: str) -> None:
    """Rerun the whole page so every part shows the change, and say what changed at its top; the table and the
    delete confirmation come back new, with nothing selected (a selection never moves onto other runs)."""
    st.session_state[_DONE] = message
    st.session_state[_GENERATION] = _generation() + 1
    st.rerun()


def _generation() -> int:
    return int(st.session_state.get(_GENERATION, 0))


def _actions(selected: list[int]) -> None:
    st.caption(f"{len(selected)} run(s) selected: " + ", ".join(f"#{run_id}" for run_id in selected))
    columns = st.columns(4)
    ids = tuple(selected)
    with columns[0]:
        inline.download_link("Export CSV", history.export_csv(ids).encode("utf-8"), "runs.csv", "text/csv")
    with columns[1]:
        inline.download_link("Export JSONL", history.export_jsonl(ids).encode("utf-8"), "runs.jsonl", "application/jsonl")
        st.caption("the file `python -m core runs import` reads")
    if columns[2].button("Archive", key="runs_archive"):
        _done(f"archived {history.set_archived(selected, True)} run(s)")
    if columns[2].button("Unarchive", key="runs_unarchive"):
        _done(f"unarchived {history.set_archived(selected, False)} run(s)")
    confirm = columns[3].checkbox("Yes, delete for good", key=f"runs_confirm_delete_{_generation()}",
                                  help="deletes the runs with their metrics and artifacts' records; their children "
                                       "stay, without a parent")
    if columns[3].button("Delete", key="runs_delete", disabled=not confirm, type="primary"):
        _done(f"deleted {history.delete(selected)} run(s)")


def _lineage_line(item: LineageItem, relation: str) -> str:
    target = item.params.get("target") or item.params.get("precision") or ""
    return f"- {relation} **#{item.id}** {plain(item.kind)} {plain(target)} ({plain(item.status)})"


def _summary_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    summary = metrics[metrics["epoch"].isna() & metrics["class_name"].isna()].drop_duplicates("name", keep="last")
    return pd.DataFrame({"metric": summary["name"],
                         "value": [metric_text(value, unit) for value, unit in zip(summary["value"], summary["unit"])]})


def _pivot(metrics: pd.DataFrame, index: str) -> pd.DataFrame:
    """One row per class (or epoch), one column per metric recorded that way; values to 4 significant digits."""
    table = metrics.pivot_table(index=index, columns="name", values="value", aggfunc="last", sort=False)
    return table.map(lambda value: value if pd.isna(value) else significant(value)).reset_index().rename_axis(
        columns=None)


def _metrics_tab(metrics: pd.DataFrame) -> None:
    """The run's metrics grouped by kind: summary values with their units, then per class, then per epoch."""
    if metrics.empty:
        st.info("This run recorded no metrics.")
        return
    per_class = metrics[metrics["class_name"].notna() & metrics["epoch"].isna()]
    per_epoch = metrics[metrics["epoch"].notna() & metrics["class_name"].isna()]
    summary = _summary_metrics(metrics)
    if not summary.empty:
        st.dataframe(summary, hide_index=True, key="run_metrics")
    if not per_class.empty:
        st.caption("Per class")
        st.dataframe(_pivot(per_class, "class_name").rename(columns={"class_name": "class"}), hide_index=True,
                     key="run_metrics_per_class", placeholder=MISSING)
    if not per_epoch.empty:
        st.caption("Per epoch")
        st.dataframe(_pivot(per_epoch, "epoch").astype({"epoch": int}), hide_index=True, key="run_metrics_per_epoch",
                     placeholder=MISSING)


def _artifacts_table(artifacts: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"kind": artifacts["kind"], "format": artifacts["format"].fillna(""),
                         "precision": artifacts["precision"].fillna(""),
                         "size": [metric_text(size, "B") for size in artifacts["bytes"]],
                         "sha256": artifacts["sha256"], "path": artifacts["path"]})


def _detail(run_id: int) -> None:
    view = history.detail(run_id)
    if view is None:
        st.warning(f"run {run_id} is no longer in the history")
        return
    record = view.record
    st.subheader(f"Run #{view.id}: {plain(record['kind'])}")
    st.badge(record["status"], color=STATUS_COLORS.get(record["status"], "gray"))
    duration = "" if record["finished_at"] is None else \
        f" · took {duration_text((record['finished_at'] - record['started_at']).total_seconds())}"
    st.markdown(f"{plain(record['device'])} on {plain(record['host'])} · started {_started(record)}{duration}"
                + (" · archived" if view.archived else "") + f"  \n{plain(record['uuid'])}")
    if record["error"]:
        st.error(plain(record["error"]))
    metrics, params, artifacts, lineage, environment = st.tabs(
        ["Metrics", "Parameters", "Artifacts", "Lineage", "Environment"])
    with metrics:
        _metrics_tab(view.metrics)
    params.json(record["params"])
    if view.artifacts.empty:
        artifacts.info("This run recorded no artifacts.")
    else:
        artifacts.dataframe(_artifacts_table(view.artifacts), hide_index=True, key="run_artifacts")
    with lineage:
        lines = [_lineage_line(item, "ancestor" if item.depth < -1 else "parent") for item in view.ancestors]
        lines.append(f"- this run **#{view.id}** {plain(record['kind'])} ({plain(record['status'])})")
        lines += [_lineage_line(item, "child") for item in view.children]
        st.markdown("\n".join(lines))
    environment.json(record["environment"], expanded=False)


def _import_section(expanded: bool) -> None:
    with st.expander("Import a history (JSONL from `python -m core runs export --jsonl`, or a Jetson's results.zip "
                     "from `scripts/jetson.sh`)", expanded=expanded):
        upload = st.file_uploader("JSONL file or results.zip", type=["jsonl", "json", "txt", "zip"],
                                  key="runs_import_file")
        if upload is not None and st.button("Import", key="runs_import"):
            try:
                result = history.import_jsonl(upload.name, upload.getvalue())
            except UserError as error:
                st.error(plain(error))
            else:
                _done(f"imported {result.added} runs, skipped {result.skipped} already present")


@login.fragment
def _listing(filters: RunFilters) -> None:
    """The table, its paging, the selection's actions and a run's detail; paging reruns only this fragment."""
    sort, descending, offset, size = _paging(history.page(filters, "started_at", True, 0, 1).total, filters)
    listing = history.page(filters, sort, descending, offset, size)
    st.caption(f"{listing.total} runs match; showing {offset + 1 if listing.rows else 0}-{offset + len(listing.rows)}")
    if not listing.rows:
        st.info("No run matches these filters.")
        return
    table = _table(listing.rows)
    event = st.dataframe(table.style.map(_status_style, subset=["status"]), hide_index=True, on_select="rerun",
                         selection_mode="multi-row", key=f"runs_table_{_generation()}", width="stretch",
                         placeholder=MISSING, column_config={name: st.column_config.NumberColumn(name, format=pattern)
                                                             for name, pattern in NUMBER_COLUMNS.items()})
    selected = [int(table.iloc[index]["id"]) for index in event.selection.rows]
    if selected:
        _actions(selected)
    names = {row.id: _run_name(row) for row in listing.rows}
    ids = selected or list(names)
    shown = st.selectbox("Run detail", ids, index=0 if selected else None, key="runs_detail",
                         placeholder="pick a run, or select rows in the table",
                         format_func=lambda run_id: names.get(run_id, f"#{run_id}"))
    if shown is not None:  # drawn on demand: a page change stays one small query and one table
        _detail(int(shown))


def render() -> None:
    st.title("Runs")
    if _DONE in st.session_state:
        st.success(st.session_state.pop(_DONE))
    if history.page(RunFilters(archived=None), "id", True, 0, 1).total == 0:
        st.info("No runs recorded yet. Every training, export, evaluation, optimization and benchmark is a run; "
                f"make the first one with\n\n`{FIRST_RUN}`\n\nor import a history below "
                "(the demo model's: `python -m core runs import assets/demo/training-runs.jsonl`).")
        _import_section(expanded=True)
        return
    _listing(_filters())
    _import_section(expanded=False)


render()
