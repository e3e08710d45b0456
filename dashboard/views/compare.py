"""Compare page: a base (FP32) run and optimized runs of the same model side by side: the table with ΔmAP and
speed-up (best values highlighted, copy as Markdown, CSV), per-class AP with deltas, and Plotly charts."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.compare import (
    ComparedRun,
    best_columns,
    class_ap_long,
    class_ap_table,
    comparison_table,
    default_base,
    default_selection,
    markdown_table,
    sort_key,
    tradeoff_frame,
)
from dashboard.components import history, inline
from dashboard.components.text import plain

EMPTY = ("No measured models yet. Optimize the demo model with `python -m core optimize --weights "
         "assets/demo/mb1-ssd-demo-fp16.pth --labels assets/demo/labels.txt --data data/demo --targets "
         "torch-fp32,ort-fp32,ort-int8`, or measure one with `python -m core evaluate ...`.")
BEST_STYLE = "background-color: rgba(33, 195, 84, 0.25); font-weight: bold"


def _pick(runs: list[ComparedRun]) -> tuple[ComparedRun, list[ComparedRun]]:
    defaults = default_selection(runs)
    models = sorted({run.model for run in runs})
    model = st.selectbox("Model", models, index=models.index(defaults[0].model), key="compare_model")
    candidates = sorted((run for run in runs if run.model == model), key=sort_key)
    by_id = {run.id: run for run in candidates}
    chosen_default = [run.id for run in defaults if run.id in by_id] or list(by_id)
    base_default = default_base([by_id[run_id] for run_id in chosen_default])
    left, right = st.columns([1, 3])
    base_id = left.selectbox("Base run", list(by_id), index=list(by_id).index(base_default.id) if base_default else 0,
                             format_func=lambda run_id: f"{by_id[run_id].label} ({by_id[run_id].device})",
                             key=f"compare_base_{model}")
    compared = right.multiselect("Compared runs", list(by_id), default=chosen_default,
                                 format_func=lambda run_id: f"{by_id[run_id].label} ({by_id[run_id].device})",
                                 key=f"compare_runs_{model}")
    base = by_id[base_id]
    return base, [base, *(by_id[run_id] for run_id in compared if run_id != base_id)]


def _styled(frame: pd.DataFrame) -> object:
    best = best_columns(frame)
    numeric = [column for column in frame.columns if pd.api.types.is_numeric_dtype(frame[column])
               and column != "run"]
    deltas = [column for column in numeric if column.startswith("Δ")]
    accuracy = [column for column in ("mAP@0.5", "COCO mAP") if column in frame.columns]
    speedups = [column for column in ("speed-up",) if column in frame.columns]
    other = [column for column in numeric if column not in (*deltas, *accuracy, *speedups)]
    return (frame.style.highlight_max(subset=best["max"], props=BEST_STYLE)
            .highlight_min(subset=best["min"], props=BEST_STYLE)
            .format("{:.4g}", subset=other, na_rep="-").format("{:.4f}", subset=accuracy, na_rep="-")
            .format("{:.2f}×", subset=speedups, na_rep="-").format("{:+.4f}", subset=deltas, na_rep="-"))


def _table(base: ComparedRun, runs: list[ComparedRun]) -> pd.DataFrame:
    frame = comparison_table(base, runs)
    st.subheader(f"Side by side, against {plain(base.label)} on {plain(base.device)}")
    st.dataframe(_styled(frame), hide_index=True, key="compare_table")
    st.caption("Best value of each column highlighted. Δ and speed-up are against the base run; runs are grouped "
               "by device and host.")
    with st.expander("Copy as Markdown"):
        st.code(markdown_table(frame), language="markdown")
    inline.download_link("Download CSV", frame.to_csv(index=False).encode("utf-8"), "comparison.csv", "text/csv")
    return frame


def _charts(table: pd.DataFrame, runs: list[ComparedRun]) -> None:
    left, right = st.columns(2)
    tradeoff = tradeoff_frame(runs)
    tradeoff["point"] = tradeoff["Pareto front"].map({True: "on the Pareto front", False: "dominated"})
    figure = px.scatter(tradeoff, x="images/sec", y="mAP@0.5", color="target", symbol="point", hover_name="run",
                        hover_data=["device"], title="Throughput vs mAP@0.5 (Pareto front marked)",
                        symbol_map={"on the Pareto front": "star", "dominated": "circle-open"})
    front = tradeoff[tradeoff["Pareto front"]].sort_values("images/sec")
    figure.add_scatter(x=front["images/sec"], y=front["mAP@0.5"], mode="lines", name="Pareto front",
                       line={"dash": "dot", "color": "gray"})
    figure.update_traces(marker={"size": 14}, selector={"mode": "markers"})
    left.plotly_chart(figure, key="compare_pareto")
    measure = [column for column in ("latency p50 ms", "latency p95 ms") if column in table.columns]
    if measure:
        long = table.melt(id_vars=["target", "device"], value_vars=measure, var_name="statistic", value_name="ms")
        right.plotly_chart(px.bar(long, x="target", y="ms", color="statistic", barmode="group", facet_col="device",
                                  title="Latency by target (batch 1)"), key="compare_latency")
    else:
        speed = tradeoff.rename(columns={"images/sec": "ms per image"})
        speed["ms per image"] = 1000 / speed["ms per image"]
        right.plotly_chart(px.bar(speed, x="target", y="ms per image", color="device", barmode="group",
                                  title="Time per image by target (from throughput)"), key="compare_latency")


def _per_class(base: ComparedRun, runs: list[ComparedRun]) -> None:
    st.subheader("AP@0.5 per class")
    table = class_ap_table(base, runs)
    if table.empty:
        st.info("These runs recorded no per-class AP.")
        return
    deltas = [column for column in table.columns if column.startswith("Δ")]
    styled = (table.style.format("{:.4f}", subset=[c for c in table.columns if c.startswith("AP")], na_rep="-")
              .format("{:+.4f}", subset=deltas, na_rep="-")
              .map(lambda value: "color: #d62728" if isinstance(value, float) and value < 0 else "", subset=deltas))
    st.dataframe(styled, hide_index=True, key="compare_classes")
    st.plotly_chart(px.bar(class_ap_long(runs), x="class", y="AP@0.5", color="run", barmode="group",
                           title="AP@0.5 per class"), key="compare_class_bars")


def render() -> None:
    st.title("Compare")
    runs = history.compared_runs()
    if not runs:
        st.info(EMPTY)
        return
    base, compared = _pick(runs)
    _charts(_table(base, compared), compared)
    _per_class(base, compared)


render()
