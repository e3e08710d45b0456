"""Training page: per-epoch curves of the recorded training runs (loss, validation mAP, images/sec) and the seed's
table "device | Images/sec | Time per epoch", the same rows as `python -m core report training`."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.ledger.training_speed import training_table
from dashboard.components import history

RUNS_SHOWN = 5
CURVES = (("Loss", ("train_loss", "val_loss")), ("Validation mAP@0.5", ("val_map50",)),
          ("Images/sec", ("images_per_sec",)))
EMPTY = ("No training runs recorded yet. Train with `python -m core train --data data/demo --epochs 10`, or "
         "import the demo model's runs with `python -m core runs import assets/demo/training-runs.jsonl` "
         "(or on the Runs page).")


def _curves(curves: pd.DataFrame) -> None:
    runs = list(dict.fromkeys(curves["run"]))
    chosen = st.multiselect("Training runs", runs, default=runs[:RUNS_SHOWN], key="training_runs")
    shown = curves[curves["run"].isin(chosen)]
    columns = st.columns(len(CURVES))
    for column, (title, names) in zip(columns, CURVES):
        data = shown[shown["metric"].isin(names)].sort_values("epoch")
        if data.empty:
            column.info(f"No {title.lower()} recorded for these runs.")
            continue
        figure = px.line(data, x="epoch", y="value", color="run", line_dash="metric" if len(names) > 1 else None,
                         markers=True, title=title)
        figure.update_layout(legend={"orientation": "h", "y": -0.25})
        column.plotly_chart(figure, key=f"training_{names[0]}")


def render() -> None:
    st.title("Training")
    curves = history.training_curves()
    rows = history.training_table_rows()
    if curves.empty and not rows:
        st.info(EMPTY)
        return
    st.subheader("Per-epoch curves")
    if curves.empty:
        st.info("The training runs recorded no per-epoch values.")
    else:
        _curves(curves)
    st.subheader("Training speed")
    st.dataframe(pd.DataFrame([{"device": row.device, "Images/sec": round(row.images_per_sec, 1),
                                "Time per epoch (s)": round(row.epoch_seconds, 1), "batch size": row.batch_size,
                                "dataset": row.dataset, "epochs": row.epochs, "run": row.run_id,
                                "status": row.status} for row in rows]),
                 hide_index=True, key="training_speed")
    with st.expander("Copy as Markdown (`python -m core report training`)"):
        st.code(training_table(rows), language="markdown")


render()
