"""Compare page: measured models of one model side by side, each device against its own FP32 base: the decision
columns (target, device, end-to-end time, speed-up, mAP, ΔmAP, COCO mAP, ΔCOCO) first and the others on demand,
best values per device highlighted, the table as Markdown (what `python -m core report optimize` prints) and CSV;
per-class AP with deltas; charts of the accuracy figure that differs, on axes zoomed to the data."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.optimize.comparison import (
    DECISION_COLUMNS,
    ComparedRun,
    best_cells,
    class_ap_table,
    column_format,
    comparison_table,
    default_base,
    default_selection,
    device_bases,
    markdown_table,
    sort_key,
)
from core.optimize.comparison_charts import (
    ACCURACY_KEYS,
    accuracy_label,
    axis_range,
    class_ap_deltas,
    class_ap_long,
    tradeoff_frame,
)
from dashboard.components import history, inline
from dashboard.components.text import plain

EMPTY = ("No measured models yet. Optimize the demo model with `python -m core optimize --weights "
         "assets/demo/mb1-ssd-demo-fp16.pth --labels assets/demo/labels.txt --data data/demo --targets "
         "torch-fp32,ort-fp32,ort-int8`, or measure one with `python -m core evaluate ...`.")
BEST_STYLE = "background-color: rgba(33, 195, 84, 0.25); font-weight: bold"
LOG_AXIS_RATIO = 10  # images/sec spanning more than this factor (CPU beside GPU) go on a log axis
FACET_TITLE_CHARACTERS = 24  # a device's name over its latency chart, shortened (the full name is in the hover)
# The decision columns fit a 1024 px wide window beside the sidebar: short headers (the full name in their help),
# fixed widths in pixels.
DECISION_HEADERS = {"target": ("target", 84), "device": ("device", 104), "end-to-end ms": ("e2e ms", 58),
                    "speed-up": ("speed-up", 64), "mAP@0.5": ("mAP", 58), "ΔmAP@0.5": ("ΔmAP", 58),
                    "COCO mAP": ("COCO", 58), "ΔCOCO mAP": ("ΔCOCO", 58)}


def _run_name(run: ComparedRun) -> str:
    return f"{run.label} ({run.device})"


def _pick(runs: list[ComparedRun]) -> tuple[ComparedRun, list[ComparedRun]]:
    defaults = default_selection(runs)
    models = sorted({run.model for run in runs})
    model_column, base_column, runs_column = st.columns([1, 1, 2])
    model = model_column.selectbox("Model", models, index=models.index(defaults[0].model), key="compare_model")
    candidates = sorted((run for run in runs if run.model == model), key=sort_key)
    by_id = {run.id: run for run in candidates}
    chosen_default = [run.id for run in defaults if run.id in by_id] or list(by_id)
    base_default = default_base([by_id[run_id] for run_id in chosen_default])
    base_id = base_column.selectbox("Base run", list(by_id),
                             index=list(by_id).index(base_default.id) if base_default else 0,
                             format_func=lambda run_id: _run_name(by_id[run_id]), key=f"compare_base_{model}",
                             help="Δ and speed-up of this run's device are against it; every other device is "
                                  "compared with its own FP32 run")
    compared = runs_column.multiselect("Compared runs", list(by_id), default=chosen_default,
                                 format_func=lambda run_id: _run_name(by_id[run_id]), key=f"compare_runs_{model}")
    base = by_id[base_id]
    return base, [base, *(by_id[run_id] for run_id in compared if run_id != base_id)]


def _styled(frame: pd.DataFrame) -> object:
    best = best_cells(frame)

    def highlight(table: pd.DataFrame) -> pd.DataFrame:
        styles = pd.DataFrame("", index=table.index, columns=table.columns)
        for position, column in best:
            styles.iloc[position, table.columns.get_loc(column)] = BEST_STYLE
        return styles

    numeric = [column for column in frame.columns if pd.api.types.is_numeric_dtype(frame[column])]
    return frame.style.apply(highlight, axis=None).format(
        {column: column_format(column) for column in numeric}, na_rep="-")


def _bases_text(base: ComparedRun, runs: list[ComparedRun]) -> str:
    bases = device_bases([run for run in runs if run.status == "succeeded"], base)
    ordered = [bases.pop(base.device), *(bases[device] for device in sorted(bases))]
    return "; ".join(f"{run.label} on {run.device}" for run in ordered)


def _table(base: ComparedRun, runs: list[ComparedRun]) -> pd.DataFrame:
    frame = comparison_table(base, runs)
    st.markdown(f"##### {plain(f'Side by side, against {_bases_text(base, runs)}')}")
    decision = [column for column in DECISION_COLUMNS if column in frame.columns]
    others = [column for column in frame.columns if column not in decision]
    extra = st.multiselect("More columns", others, key="compare_columns",
                           placeholder="size, latency p50/p95, images/sec per batch size, base, host, run")
    headers = {column: st.column_config.Column(label, width=width, help=column)
               for column, (label, width) in DECISION_HEADERS.items()}
    st.dataframe(_styled(frame), hide_index=True, key="compare_table", column_order=[*decision, *extra],
                 column_config=headers, placeholder="-")
    st.caption("Each device is compared with its own base (its FP32 run first in the targets table's order, or the "
               "base run picked above): Δ is the run's mAP minus the base's, speed-up the base's end-to-end 640x480 "
               "time over the run's (p50 latency, else images/sec, where a run has no end-to-end time). The best "
               "value of each column is highlighted per device.")
    with st.expander("Copy as Markdown (`python -m core report optimize`)"):
        st.code(markdown_table(frame), language="markdown")
    inline.download_link("Download CSV", frame.to_csv(index=False).encode("utf-8"), "comparison.csv", "text/csv")
    return frame


def _tradeoff_chart(runs: list[ComparedRun], accuracy: str) -> object:
    tradeoff = tradeoff_frame(runs, accuracy)
    tradeoff["point"] = tradeoff["Pareto front"].map({True: "on the Pareto front", False: "dominated"})
    speeds = tradeoff["images/sec"]
    log_x = bool(len(speeds)) and speeds.max() > LOG_AXIS_RATIO * speeds.min()
    figure = px.scatter(tradeoff, x="images/sec", y=accuracy, color="target", symbol="point", hover_name="run",
                        hover_data=["device"], log_x=log_x, title=f"Throughput vs {accuracy} (Pareto front marked)",
                        symbol_map={"on the Pareto front": "star", "dominated": "circle-open"})
    front = tradeoff[tradeoff["Pareto front"]].sort_values("images/sec")
    figure.add_scatter(x=front["images/sec"], y=front[accuracy], mode="lines", name="Pareto front",
                       line={"dash": "dot", "color": "gray"})
    figure.update_traces(marker={"size": 14}, selector={"mode": "markers"})
    figure.update_yaxes(range=axis_range(list(tradeoff[accuracy]), low=0.0))
    if log_x:
        figure.update_xaxes(dtick=1, tickformat="~s")  # 10, 100, 1k: no abbreviated minor ticks
    return figure


def _latency_chart(table: pd.DataFrame, runs: list[ComparedRun]) -> object:
    measure = [column for column in ("latency p50 ms", "latency p95 ms") if column in table.columns]
    if measure:
        long = table.melt(id_vars=["target", "device"], value_vars=measure, var_name="statistic", value_name="ms")
        figure = px.bar(long, x="target", y="ms", color="statistic", barmode="group", facet_col="device",
                        facet_col_spacing=0.06, title="Latency by target (batch 1), each device on its own scale")
    else:
        speed = tradeoff_frame(runs).rename(columns={"images/sec": "ms per image"})
        speed["ms per image"] = 1000 / speed["ms per image"]
        figure = px.bar(speed, x="target", y="ms per image", color="device", barmode="group", facet_col="device",
                        facet_col_spacing=0.06, title="Time per image by target (from throughput)")
    figure.update_yaxes(matches=None, showticklabels=True)
    figure.update_xaxes(matches=None)
    figure.for_each_annotation(lambda note: note.update(text=_shortened(note.text.removeprefix("device=")),
                                                        font={"size": 11}))
    return figure


def _shortened(text: str) -> str:
    return text if len(text) <= FACET_TITLE_CHARACTERS else text[: FACET_TITLE_CHARACTERS - 1] + "…"


def _charts(table: pd.DataFrame, runs: list[ComparedRun]) -> str:
    labels = list(ACCURACY_KEYS)
    accuracy = st.radio("Accuracy charted", labels, index=labels.index(accuracy_label(runs)), horizontal=True,
                        key="compare_accuracy", help="by default the figure that differs most between runs of "
                                                     "the same device")
    st.plotly_chart(_tradeoff_chart(runs, accuracy), key="compare_pareto")
    st.plotly_chart(_latency_chart(table, runs), key="compare_latency")  # full width: a chart per device
    return accuracy


def _per_class(base: ComparedRun, runs: list[ComparedRun], accuracy: str) -> None:
    st.subheader("AP@0.5 per class")
    table = class_ap_table(base, runs)
    if table.empty:
        st.info("These runs recorded no per-class AP.")
        return
    deltas = [column for column in table.columns if column.startswith("Δ")]
    styled = (table.style.format("{:.4f}", subset=[c for c in table.columns if c.startswith("AP")], na_rep="-")
              .format("{:+.4f}", subset=deltas, na_rep="-")
              .map(lambda value: "color: #d62728" if isinstance(value, float) and value < 0 else "", subset=deltas))
    st.dataframe(styled, hide_index=True, key="compare_classes", placeholder="-")
    name = "AP@0.5" if accuracy == "mAP@0.5" else "COCO AP"
    changes = class_ap_deltas(base, runs, accuracy)
    if changes.empty:  # only bases: the values themselves, on an axis zoomed to them
        values = class_ap_long(runs, accuracy)
        figure = px.bar(values, x="class", y="AP", color="run", barmode="group", title=f"{name} per class",
                        labels={"AP": name})
        figure.update_yaxes(range=axis_range(list(values["AP"]), low=0.0))
    else:
        figure = px.bar(changes, x="class", y="ΔAP", color="run", barmode="group", hover_data=["base"],
                        title=f"Δ{name} per class against each device's base", labels={"ΔAP": f"Δ{name}"})
        figure.add_hline(y=0, line_color="gray")
    st.plotly_chart(figure, key="compare_class_bars")


def render() -> None:
    st.title("Compare")
    runs = history.compared_runs()
    if not runs:
        st.info(EMPTY)
        return
    base, compared = _pick(runs)
    table = _table(base, compared)
    accuracy = _charts(table, compared)
    _per_class(base, compared, accuracy)


render()
