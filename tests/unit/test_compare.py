"""The comparison table's logic (the Compare page's and `report optimize`'s): default selection and bases per device,
speed-up, deltas, best values per device, per-class AP, the charts' frames and axes, Markdown."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from core.ledger import MetricRow, RunRow
from core.optimize.comparison import (
    DECISION_COLUMNS,
    ComparedRun,
    best_cells,
    class_ap_table,
    compared_run,
    comparison_table,
    default_base,
    default_selection,
    device_bases,
    markdown_table,
    sort_key,
    speedup,
    target_of,
)
from core.optimize.comparison_charts import accuracy_label, axis_range, class_ap_deltas, pareto_front, tradeoff_frame

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
               MetricRow(5, "coco_ap", 0.1, None, None, "star"), MetricRow(5, "coco_ap50", 0.6, None, None, "star")]
    compared = compared_run(row, metrics)
    assert (compared.target, compared.model, compared.metrics, compared.class_ap, compared.invocation) == (
        "torch-fp32", "demo", {"map50": 0.9}, {"star": 0.7}, "h/1")
    assert (compared.class_coco_ap, compared.status) == ({"star": 0.1}, "succeeded")
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


def test_comparison_table_deltas_speedup_and_best_cells() -> None:
    frame = comparison_table(FP32, [INT8, FP32, ORT])
    assert list(frame["target"]) == ["torch-fp32", "ort-fp32", "ort-int8"]
    int8 = frame.set_index("target").loc["ort-int8"]
    assert int8["ΔmAP@0.5"] == pytest.approx(-0.005)
    assert int8["ΔCOCO mAP"] == pytest.approx(-0.01)
    assert int8["speed-up"] == pytest.approx(5.0)
    assert int8["img/s bs8"] == 300.0 and int8["size MB"] == pytest.approx(7.0)
    assert int8["base"] == "#1 torch-fp32" and int8["run"] == 3
    assert "latency p95 ms" not in frame.columns and "end-to-end ms" not in frame.columns  # no run measured them
    assert "status" not in frame.columns  # every row succeeded
    assert list(frame.columns[:7]) == [column for column in DECISION_COLUMNS if column in frame.columns]
    best = best_cells(frame)
    assert {column for _, column in best} == {"mAP@0.5", "COCO mAP", "speed-up", "img/s bs1", "img/s bs8",
                                               "size MB", "latency p50 ms"}
    assert (2, "speed-up") in best and (2, "size MB") in best and (0, "mAP@0.5") in best and (1, "mAP@0.5") in best


def test_each_device_is_compared_with_its_own_fp32_base() -> None:
    """GPU rows against the GPU's FP32 run, not the CPU's; best values per device."""
    gpu_fp32 = run(4, "torch-fp32", device="GPU", end_to_end_640x480_ms=4.0, map50=0.98, coco_map=0.88)
    gpu_fp16 = run(5, "torch-fp16", device="GPU", end_to_end_640x480_ms=2.0, map50=0.97, coco_map=0.87)
    cpu_fp32 = run(6, "torch-fp32", end_to_end_640x480_ms=20.0, map50=0.99, coco_map=0.86)
    cpu_int8 = run(7, "ort-int8", end_to_end_640x480_ms=5.0, map50=0.99, coco_map=0.85)
    runs = [cpu_int8, gpu_fp16, cpu_fp32, gpu_fp32]
    assert device_bases(runs) == {"GPU": gpu_fp32, "cpu": cpu_fp32}
    frame = comparison_table(cpu_fp32, runs).set_index("target")
    assert frame.loc["torch-fp16", "speed-up"] == pytest.approx(2.0)  # 4 ms / 2 ms on the GPU, not 20 ms / 2 ms
    assert frame.loc["torch-fp16", "ΔmAP@0.5"] == pytest.approx(-0.01)
    assert frame.loc["ort-int8", "speed-up"] == pytest.approx(4.0)
    assert list(comparison_table(cpu_fp32, runs)["device"]) == ["GPU", "GPU", "cpu", "cpu"]
    best = best_cells(comparison_table(cpu_fp32, runs))
    assert {(position, "speed-up") for position in (1, 3)} <= best  # the fastest of each device
    assert (0, "speed-up") not in best and (2, "speed-up") not in best
    # a base picked for one device leaves the others on their own
    picked = comparison_table(cpu_int8, runs).set_index("run")
    assert (picked.loc[4, "speed-up"], picked.loc[6, "speed-up"]) == (pytest.approx(1.0), pytest.approx(0.25))
    assert class_ap_deltas(None, runs).empty  # no per-class AP recorded


def test_failed_and_skipped_targets_get_a_status_and_no_figures() -> None:
    failed = run(8, "ort-int8", map50=0.5)
    failed = ComparedRun(*[getattr(failed, name) for name in failed.__dataclass_fields__][:11], status="failed",
                         error="RuntimeError: calibration")
    frame = comparison_table(None, [FP32, failed], skipped=[("trt-int8", "no CUDA GPU")])
    assert list(frame.columns[:3]) == ["target", "status", "device"]
    assert list(frame["status"]) == ["succeeded", "failed: RuntimeError: calibration", "skipped: no CUDA GPU"]
    assert frame.set_index("target").loc["ort-int8", ["speed-up", "ΔmAP@0.5"]].isna().all()
    assert markdown_table(frame).splitlines()[-1].startswith("| trt-int8 | skipped: no CUDA GPU | - |")


def test_class_ap_table_has_deltas_against_the_base() -> None:
    table = class_ap_table(FP32, [FP32, INT8])
    assert list(table.columns) == ["class", "AP #1 torch-fp32", "AP #3 ort-int8", "Δ #3 ort-int8"]
    assert table.set_index("class").loc["star", "Δ #3 ort-int8"] == pytest.approx(-0.03)
    deltas = class_ap_deltas(FP32, [FP32, INT8])
    assert list(deltas["run"]) == ["#3 ort-int8"] * 2 and list(deltas["base"]) == ["#1 torch-fp32"] * 2
    assert deltas.set_index("class")["ΔAP"].to_dict() == pytest.approx({"circle": 0.0, "star": -0.03})


def test_pareto_front() -> None:
    assert pareto_front([(1.0, 0.9), (2.0, 0.8), (0.5, 0.85), (2.0, 0.8), (1.5, 0.9)]) == [
        False, True, False, True, True]
    assert pareto_front([]) == []
    frame = tradeoff_frame([FP32, ORT, INT8, run(11, "trt-int8")])  # the run without figures is left out
    assert list(frame["run"]) == ["#1 torch-fp32", "#2 ort-fp32", "#3 ort-int8"]
    assert list(frame["Pareto front"]) == [False, True, True]


def test_charts_use_the_accuracy_that_differs_on_an_axis_zoomed_to_it() -> None:
    assert accuracy_label([FP32, ORT, INT8]) == "COCO mAP"  # -0.01 beside -0.005
    assert accuracy_label([FP32, ORT, run(3, "ort-int8", map50=0.9, coco_map=0.86)]) == "mAP@0.5"
    same_map = [run(1, "ort-fp32", map50=1.0, coco_map=0.8826), run(2, "ort-int8", map50=1.0, coco_map=0.8869)]
    assert accuracy_label(same_map) == "COCO mAP"
    other_devices = [run(3, "torch-fp32", device="GPU", map50=0.78, coco_map=0.62), *same_map]
    assert accuracy_label(other_devices) == "COCO mAP"  # differences between devices are not the runs' own
    assert list(tradeoff_frame(same_map, "COCO mAP").columns)[4] == "COCO mAP"
    assert accuracy_label([run(1, "ort-fp32", map50=1.0)]) == "mAP@0.5"
    low, high = axis_range([1.0, 1.0, 1.0], low=0.0)
    assert 0.99 <= low < 1.0 < high <= 1.01  # never 0-2 around a single value
    low, high = axis_range([0.8826, 0.8869], low=0.0)
    assert 0.88 < low < 0.8826 and 0.8869 < high < 0.89
    assert axis_range([0.001, 0.002], low=0.0)[0] == 0.0


def test_markdown_table() -> None:
    frame = pd.DataFrame({"target": ["a|b", "c"], "mAP": [0.98765, None], "ΔmAP": [0.001, -0.02]})
    assert markdown_table(frame) == (
        "| target | mAP | ΔmAP |\n"
        "|---|---:|---:|\n"
        "| a\\|b | 0.9877 | +0.0010 |\n"
        "| c | - | -0.0200 |"
    )
