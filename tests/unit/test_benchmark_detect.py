"""`python -m core benchmark detect` and the measuring it builds on (core.optimize.measure.measure_detect_call):
what ran and what was recorded, never how fast this machine is."""
from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest

from core.cli import main
from core.detect.base import Detections
from core.optimize.measure import RepeatConfig, measure_detect_call, repeat_timed
from tests.history_helpers import recorded_runs


class CountingDetector:
    """A detector that counts its calls and whose stages take no time."""

    backend, precision, device, name = "onnxruntime", "int8", "cpu", "counting"
    class_names = ["BACKGROUND", "thing"]
    score_threshold = 0.4

    def __init__(self) -> None:
        self.detect_calls = self.infer_calls = 0

    def infer(self, resized: np.ndarray):
        self.infer_calls += 1
        scores = np.zeros((len(resized), 3000, 2), np.float32)
        scores[:, :, 0] = 1.0
        return scores, np.zeros((len(resized), 3000, 4), np.float32)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        self.detect_calls += 1
        return [Detections.empty() for _ in frames]

    def close(self) -> None: ...


class StepClock:
    """Each reading is `step` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_repeat_timed_meets_both_minimums_after_the_warmup():
    calls = []
    samples = repeat_timed(lambda: calls.append(1), RepeatConfig(warmup=3, min_seconds=0.0, min_repeats=7),
                           clock=StepClock(0.001))
    assert len(samples) == 7 and len(calls) == 10
    calls.clear()
    # 2 clock readings per timed call (start, end) + 1 for the loop test: 3 ms a call, so 1 s needs ~334 calls
    samples = repeat_timed(lambda: calls.append(1), RepeatConfig(warmup=0, min_seconds=1.0, min_repeats=1),
                           clock=StepClock(0.001))
    assert 300 < len(samples) < 400 and len(calls) == len(samples)


def test_detect_call_is_per_image_with_every_stage():
    detector = CountingDetector()
    frames = [np.zeros((480, 640, 3), np.uint8)] * 4
    result = measure_detect_call(detector, frames, RepeatConfig(warmup=2, min_seconds=0.0, min_repeats=8),
                                 clock=StepClock(0.002))
    assert detector.detect_calls == 2 + 8 and result["repeats"] == 8 and result["batch_size"] == 4
    assert result["median_ms"] == pytest.approx(2.0 / 4)  # a call spans one 2 ms clock step, shared by 4 images
    assert result["images_per_sec"] == pytest.approx(2000.0)
    assert set(result["stages_ms"]) == {"resize", "network", "decode_nms"}
    assert result["normalized_in"] == "graph"


def test_detector_without_infer_has_no_stage_split():
    class Whole(CountingDetector):
        infer = None

    result = measure_detect_call(Whole(), [np.zeros((48, 64, 3), np.uint8)], RepeatConfig(1, 0.0, 3))
    assert result["stages_ms"] is None and result["repeats"] == 3


def _benchmark_runs() -> list:
    return recorded_runs(kind="benchmark")


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_command_prints_one_json_object_and_records_a_run(random_model, backend, capsys):
    weights, labels = random_model
    code = main(["benchmark", "detect", "--weights", str(weights), "--labels", str(labels), "--backend", backend,
                 "--device", "cpu", "--batch-size", "2", "--threads", "1", "--iterations", "3", "--min-seconds", "0",
                 "--warmup", "1", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == backend and result["precision"] == "fp32" and result["batch_size"] == 2
    assert result["repeats"] == 3 and result["frame"] == [640, 480]
    assert {"median_ms", "p95_ms", "images_per_sec"} <= set(result)
    assert set(result["stages_ms"]) == {"resize", "network", "decode_nms"}
    (run,) = _benchmark_runs()
    assert run.id == result["run_id"] and run.status == "succeeded" and run.params["benchmark"] == "detect"
    assert {metric.name for metric in run.metrics} >= {"median_ms", "p95_ms", "images_per_sec", "network_ms"}


def test_command_reads_an_image_and_prints_a_sentence(random_model, tmp_path, capsys):
    from core.pictures.imageio import write_image

    weights, labels = random_model
    image = write_image(np.full((120, 160, 3), 90, np.uint8), tmp_path / "frame.png")
    code = main(["benchmark", "detect", "--weights", str(weights), "--labels", str(labels), "--backend",
                 "onnxruntime", "--image", str(image), "--iterations", "2", "--min-seconds", "0", "--warmup", "0"])
    assert code == 0
    assert "onnxruntime fp32 on cpu, batch 1" in capsys.readouterr().out


def test_bad_numbers_and_refused_precisions_are_one_line_errors(random_model, capsys):
    weights, labels = random_model
    base = ["benchmark", "detect", "--weights", str(weights), "--labels", str(labels)]
    assert main([*base, "--batch-size", "0"]) == 2
    assert main([*base, "--backend", "torch", "--device", "cpu", "--precision", "fp16"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("error: ") for line in errors)
