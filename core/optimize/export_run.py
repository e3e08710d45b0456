"""An ONNX export recorded as an `export` run: what `python -m core export-onnx` does, and what `jetson pack`
does before bundling the graph, so both leave the same run (parameters, input and output artifacts)."""
from __future__ import annotations

from pathlib import Path

from core.ledger import History, RecordedRun, RunKind
from core.model.onnx_export import DEFAULT_OPSET, export_onnx


def recorded_export(history: History, weights: Path, labels: Path, output: Path, *, batch_size: int = 1,
                    dynamic_batch: bool = False, opset: int | None = None) -> tuple[Path, RecordedRun]:
    """Export `weights` to `output` inside an `export` run of `history`; returns the ONNX path and the run."""
    params = {"weights": str(weights), "labels": str(labels), "output": str(output), "batch_size": batch_size,
              "dynamic_batch": dynamic_batch, "opset": opset or DEFAULT_OPSET}
    with history.record(RunKind.EXPORT, params) as ledger_run:
        path = export_onnx(weights, labels, output, batch_size=batch_size, dynamic_batch=dynamic_batch, opset=opset)
        # inputs are recorded after they loaded, so a missing file fails with the checkpoint loader's message
        ledger_run.artifact(weights, kind="input", format="pth")
        ledger_run.artifact(labels, kind="input", format="labels")
        ledger_run.artifact(path, kind="output", format="onnx", precision="fp32")
    return path, ledger_run
