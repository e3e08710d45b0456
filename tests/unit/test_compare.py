"""The Compare page's logic: default selection and base, speed-up, deltas, per-class AP, Pareto front, Markdown."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from core.compare import (
    ComparedRun,
    best_columns,
    class_ap_table,
    compared_run,
    comparison_table,
    default_base,
    default_selection,
    markdown_table,
    pareto_front,
    sort_key,
    speedup,
    target_of,
    tradeoff_frame,
)
from db.queries import MetricRow, RunRow

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def run(run_id: int, target: str, *, kind: str = "optimize", invocation: str = "opt-7", device: str = "cpu",
        minutes: int = 0, model: str = "demo", **metrics: float) -> ComparedRun:
    class_ap = {name[3:]: value for name, value in metrics.items() if name.startswith("ap_")}
    summary = {name: value for name, value in metrics.items() if not name.startswith("ap_")}
    return ComparedRun(run_id, kind, target, target.split("-")[1], model, device, "h", invocation,
                       T0 + timedelta(minutes=minutes), summary, class_ap)


FP32 = run(1, "torch-fp32", latency_p50_ms=20.0, throughput_b1=50.0, throughput_b8=80.0, map50=0.99,
           coco_map=0.87, model_bytes=30e6, ap_circle=1.0, ap_star=0.98)
ORT = run(2, "ort-fp32", latency_p50_ms=10.0, throughput_b1=100.0, throughput_b8=120.0, map50=0.99,
          coco_map=0.87, model_bytes=27e6, ap_circle=1.0, ap_star=0.98)
INT8 = run(3, "ort-int8", latency_p50_ms=4.0, throughput_b1=250.0, throughput_b8=300.0, map50=0.985,
           coco_map=0.86, model_bytes=7e6, ap_circle=1.0, ap_star=0.95)


def test_target_named_from_params_or_backend_and_precision() -> None:
    assert target_of({"target": "trt-int8", "backend": "tensorrt"}) == "trt-int8"
    assert target_of({"backend": "onnxruntime", "precision": "fp32"}) == "ort-fp32"
    assert target_of({"backend": "torch", "precision": "fp16"}) == "torch-fp16"
    assert target_of({"backend": "other"}) == "other-?"


def test_compared_run_keeps_summary_and_per_class_ap_only() -> None:
    row = RunRow(5, "u", "evaluation", "succeeded", T0, None, "cpu", "h", 1, None, None, False,
                 {"backend": "torch", "precision": "fp32", "weights": "/m/demo.pth"})
    metrics = [MetricRow(5, "map50", 0.5, None, None, None), MetricRow(5, "map50", 0.9, None, None, None),
               MetricRow(5, "val_loss", 3.0, None, 2, None), MetricRow(5, "ap50", 0.7, None, None, "star"),
               MetricRow(5, "coco_ap", 0.1, None, None, "star")]
    compared = compared_run(row, metrics)
    assert (compared.target, compared.model, compared.metrics, compared.class_ap, compared.invocation) == (
        "torch-fp32", "demo", {"map50": 0.9}, {"star": 0.7}, "h/1")
    optimized = RunRow(6, "v", "optimize", "succeeded", T0, None, "cpu", "h", 1, None, None, False,
                       {"target": "ort-int8", "precision": "int8", "weights": "/m/demo.pth", "optimize_id": "abc"})
    assert (compared_run(optimized, []).target, compared_run(optimized, []).invocation) == ("ort-int8", "abc")


def test_default_selection_is_the_latest_optimize_command() -> None:
    old = run(9, "ort-int8", invocation="opt-3", minutes=-60)
    evaluation = run(10, "torch-fp32", kind="evaluation", minutes=30)
    assert default_selection([old, INT8, FP32, ORT, evaluation]) == [FP32, ORT, INT8]  # targets table order
    assert default_base([INT8, ORT, FP32]) == FP32
    assert default_base([INT8, ORT]) == ORT
    assert default_base([INT8]) == INT8
    assert default_selection([]) == [] and default_base([]) is None


def test_default_selection_puts_other_devices_newest_rows_beside_the_latest_command() -> None:
    """A Jetson's imported rows (their own invocation, with the server's reference on the same images) stay in
    view after a newer optimize command on the server; another model's Jetson rows do not."""
    jetson_reference = run(20, "ort-fp32", invocation="jetson-1", minutes=-30)
    old_jetson = run(19, "trt-fp16", invocation="jetson-0", device="Xavier NX", minutes=-90)
    jetson = [run(21, "trt-fp32", invocation="jetson-1", device="Xavier NX", minutes=-20),
              run(22, "trt-int8", invocation="jetson-1", device="Xavier NX", minutes=-19)]
    other_model = run(23, "trt-fp32", invocation="jetson-2", device="Orin", minutes=-10, model="other")
    selected = default_selection([FP32, ORT, INT8, jetson_reference, old_jetson, *jetson, other_model])
    assert selected == sorted([FP32, ORT, INT8, *jetson], key=sort_key)  # grouped by device, then targets order
    assert [item.device for item in selected] == ["Xavier NX", "Xavier NX", "cpu", "cpu", "cpu"]
    assert default_base(selected) == FP32
    # when the Jetson's import is the newest, its invocation (with the server's reference row) is the selection
    newest = [run(31, "ort-fp32", invocation="jetson-3", minutes=60),
              run(32, "trt-fp32", invocation="jetson-3", device="Xavier NX", minutes=70)]
    assert default_selection([FP32, ORT, *newest]) == newest[::-1] and default_base(newest) == newest[0]


def test_without_optimize_runs_the_newest_run_per_target_of_the_newest_model() -> None:
    older = run(4, "torch-fp32", kind="evaluation", minutes=1)
    newer = run(5, "torch-fp32", kind="evaluation", minutes=2)
    onnx = run(6, "ort-fp32", kind="evaluation", minutes=3)
    other_model = run(7, "ort-fp32", kind="evaluation", minutes=0, model="other")
    assert default_selection([older, newer, onnx, other_model]) == [newer, onnx]


def test_speedup_by_latency_else_by_throughput() -> None:
    assert speedup(FP32, INT8) == pytest.approx(5.0)
    with_e2e = run(12, "ort-int8", latency_p50_ms=4.0, end_to_end_640x480_ms=10.0)
    assert speedup(run(13, "ort-fp32", latency_p50_ms=8.0, end_to_end_640x480_ms=30.0), with_e2e) == pytest.approx(3.0)
    no_latency = run(8, "ort-int8", images_per_sec=40.0)
    base = run(9, "torch-fp32", images_per_sec=20.0)
    assert speedup(base, no_latency) == pytest.approx(2.0)
    assert speedup(base, run(10, "ort-fp32")) is None


def test_comparison_table_deltas_speedup_and_best_columns() -> None:
    frame = comparison_table(FP32, [INT8, FP32, ORT])
    assert list(frame["target"]) == ["torch-fp32", "ort-fp32", "ort-int8"]
    int8 = frame.set_index("target").loc["ort-int8"]
    assert int8["ΔmAP@0.5"] == pytest.approx(-0.005)
    assert int8["ΔCOCO mAP"] == pytest.approx(-0.01)
    assert int8["speed-up"] == pytest.approx(5.0)
    assert int8["img/s bs8"] == 300.0 and int8["size MB"] == pytest.approx(7.0)
    assert "latency p95 ms" not in frame.columns  # no run measured it
    best = best_columns(frame)
    assert set(best["max"]) == {"mAP@0.5", "COCO mAP", "speed-up", "img/s bs1", "img/s bs8"}
    assert set(best["min"]) == {"size MB", "latency p50 ms"}


def test_class_ap_table_has_deltas_against_the_base() -> None:
    table = class_ap_table(FP32, [FP32, INT8])
    assert list(table.columns) == ["class", "AP #1 torch-fp32", "AP #3 ort-int8", "Δ #3 ort-int8"]
    assert table.set_index("class").loc["star", "Δ #3 ort-int8"] == pytest.approx(-0.03)


def test_pareto_front() -> None:
    assert pareto_front([(1.0, 0.9), (2.0, 0.8), (0.5, 0.85), (2.0, 0.8), (1.5, 0.9)]) == [
        False, True, False, True, True]
    assert pareto_front([]) == []
    frame = tradeoff_frame([FP32, ORT, INT8, run(11, "trt-int8")])  # the run without figures is left out
    assert list(frame["run"]) == ["#1 torch-fp32", "#2 ort-fp32", "#3 ort-int8"]
    assert list(frame["Pareto front"]) == [False, True, True]


def test_markdown_table() -> None:
    frame = pd.DataFrame({"target": ["a|b", "c"], "mAP": [0.98765, None], "ΔmAP": [0.001, -0.02]})
    assert markdown_table(frame) == (
        "| target | mAP | ΔmAP |\n"
        "|---|---:|---:|\n"
        "| a\\|b | 0.9877 | +0.0010 |\n"
        "| c | - | -0.0200 |"
    )
