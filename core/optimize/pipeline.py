"""`optimize`: build, measure, evaluate and record every requested target of one checkpoint (see core.optimize.formats).

Targets run in table order, so each one's parent artifact (.pth -> ONNX -> INT8 ONNX or engine) and its FP32
reference are there before it. Each target that can run is one `optimize` run in the ledger, chained to its parent's
run, with the artifacts it read and wrote (sha256) and its metrics; all runs of one invocation share
`params.optimize_id`. A target this machine cannot run (or whose parent did not build) records no run: it is
returned as a skipped outcome with the reason. Artifacts are written under a temporary name and renamed, so an
interrupted build never leaves a partial file.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from core.data.dataset import DetectionDataset
from core.data.readers import open_split, read_dataset
from core.detect import load_detector
from core.detect.base import DEFAULT_SCORE_THRESHOLD, DetectorSpec
from core.errors import UserError
from core.ledger import History, RecordedRun, RunKind
from core.ledger.environment import cpu_model
from core.model import read_labels
from core.optimize.evaluate import EvaluationResult, evaluate, evaluation_spec, record_deltas, record_metrics
from core.optimize import formats
from core.optimize.builders import BuildJob
from core.optimize.formats import DEFAULT_METHOD, DEFAULT_SCOPE, TARGETS_BY_NAME, Target, lineage, unavailable_reason
from core.optimize.measure import PeakMemory, SpeedConfig, SpeedResult, max_deviation, measure_speed, raw_outputs

log = logging.getLogger(__name__)
DEVIATION_IMAGES = 8


@dataclass(frozen=True)
class OptimizeConfig:
    weights: Path
    labels: Path
    data: Path
    output: Path
    targets: Sequence[Target]
    calib_images: int = 500
    calib_method: str = DEFAULT_METHOD
    calib_scope: str = DEFAULT_SCOPE
    calib_split: str = "train"
    eval_split: str = "test"
    speed: SpeedConfig = SpeedConfig()
    threads: int | None = None
    device: str = "auto"  # for targets that do not need CUDA: "auto" runs torch ones on a GPU where there is one
    opset: int | None = None
    progress: bool = True


@dataclass
class Outcome:
    """What happened to one target: its run and artifact, or why it was skipped (no run) or failed (a failed run)."""

    target: Target
    run_id: int | None = None
    artifact: Path | None = None
    skipped: str | None = None
    failed: str | None = None


@dataclass
class _Reference:
    """An FP32 target's results that its lower-precision siblings are compared with."""

    evaluation: EvaluationResult
    speed: SpeedResult
    outputs: tuple[np.ndarray, np.ndarray] | None


@dataclass
class _State:
    config: OptimizeConfig
    history: History
    optimize_id: str
    test_split: DetectionDataset
    calibration_paths: list[Path]
    probe_image: np.ndarray
    deviation_images: list[np.ndarray]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    references: dict[str, _Reference] = field(default_factory=dict)


def optimize(config: OptimizeConfig, history: History) -> tuple[str, list[Outcome]]:
    """Run every target of `config` (plus the parents and FP32 references they need), each recorded in `history`:
    (optimize_id, outcomes)."""
    state = _prepare(config, history)
    planned = lineage([*config.targets, *(TARGETS_BY_NAME[t.reference] for t in config.targets)])
    with tqdm(planned, desc="optimize", unit="target", disable=not config.progress) as bar:
        for target in bar:
            bar.set_postfix_str(target.name)
            state.outcomes[target.name] = _run_target(state, target)
    return state.optimize_id, list(state.outcomes.values())


def _prepare(config: OptimizeConfig, history: History) -> _State:
    tables = read_dataset(config.data)
    class_names = read_labels(config.labels)
    test_split = open_split(tables, config.eval_split, class_names)
    if config.calib_split not in tables.splits:
        raise UserError(f"{config.data} has no {config.calib_split!r} split to calibrate on")
    calibration = [tables.image_path(config.calib_split, str(image_id))
                   for image_id in tables.splits[config.calib_split]["ImageID"].unique()]
    samples = []
    for sample in test_split:
        samples.append(sample.image)
        if len(samples) == DEVIATION_IMAGES:
            break
    if not samples:
        raise UserError(f"the {config.eval_split} split of {config.data} has no readable image")
    return _State(config, history, str(uuid.uuid4()), test_split, calibration, samples[0], samples)


def _run_target(state: _State, target: Target) -> Outcome:
    reason = unavailable_reason(target)
    parent = state.outcomes.get(target.parent) if target.parent else None
    if reason is None and parent is not None and parent.artifact is None:
        reason = f"its parent {parent.target.name} did not build"
    if reason is not None:
        log.warning("%s skipped: %s", target.name, reason)
        return Outcome(target, skipped=reason)
    try:
        return _record_target(state, target, parent)
    except Exception as error:  # one failed target is a failed row (its run says why), not the end of the others
        log.error("%s failed: %s", target.name, error)
        return Outcome(target, failed=" ".join(str(error).split())[:300])


def _params(state: _State, target: Target) -> dict[str, Any]:
    config = state.config
    params: dict[str, Any] = {
        "optimize_id": state.optimize_id, "target": target.name, "backend": target.backend,
        "precision": target.precision, "weights": str(config.weights), "labels": str(config.labels),
        "data": str(config.data), "eval_split": config.eval_split, "batch_sizes": list(config.speed.batch_sizes),
        "repeats": config.speed.repeats, "warmup": config.speed.warmup, "threads": config.threads,
        "reference": target.reference,
    }
    params.update({option: getattr(config, option) for option in target.builder.options})
    return params


def target_device(target: Target, requested: str, *, has_cuda: Callable[[], bool] | None = None) -> str:
    """Where `target` runs: CUDA targets on the GPU; the others where asked, and with "auto" torch on a GPU where
    there is one (so the FP32 reference of GPU targets is measured on the same device), ONNX Runtime on the CPU."""
    if target.needs_cuda:
        return "cuda"
    if requested == "auto":
        return "cuda" if target.backend == "torch" and (has_cuda or formats.cuda_available)() else "cpu"
    return requested


def _record_target(state: _State, target: Target, parent: Outcome | None) -> Outcome:
    config = state.config
    device = target_device(target, config.device)
    with state.history.record(RunKind.OPTIMIZE, _params(state, target), parent_id=parent.run_id if parent else None,
                              device=cpu_model() if device == "cpu" else None) as run:
        source = parent.artifact if parent else config.weights
        run.artifact(source, kind="input", precision=parent.target.precision if parent else None)
        run.artifact(config.labels, kind="input", format="labels")
        artifact = target.builder(BuildJob(target, source, config, state.calibration_paths, run))
        if artifact != source:
            run.artifact(artifact, kind="output", format=target.format, precision=target.precision)
        run.metric("model_bytes", artifact.stat().st_size, unit="B")
        spec = DetectorSpec(artifact, config.labels, backend=target.backend, device=device,
                            precision=target.precision, score_threshold=DEFAULT_SCORE_THRESHOLD,
                            threads=config.threads)
        speed, outputs = _measure(state, spec, run)
        evaluation = _evaluate(state, spec, run)
        _compare(state, target, run, evaluation, outputs)
        if target.is_reference:
            state.references[target.name] = _Reference(evaluation, speed, outputs)
    return Outcome(target, run_id=run.id, artifact=artifact)


def _measure(state: _State, spec: DetectorSpec, run: RecordedRun) -> tuple[SpeedResult, tuple | None]:
    with PeakMemory() as memory:
        detector = load_detector(spec)
        try:
            speed = measure_speed(detector, state.probe_image, state.config.speed)
            outputs = raw_outputs(detector, state.deviation_images)
        finally:
            detector.close()
    for name in ("p50", "p95", "p99"):
        run.metric(f"latency_{name}_ms", speed.latency_ms[name], unit="ms")
    run.metric("latency_samples", speed.latency_samples)
    for batch_size, images_per_sec in speed.throughput.items():
        run.metric(f"throughput_b{batch_size}", images_per_sec, unit="img/s")
    run.metric("end_to_end_640x480_ms", speed.end_to_end_ms, unit="ms")
    if memory.megabytes is not None:
        run.metric("peak_rss_mb", memory.megabytes, unit="MB")
    return speed, outputs


def _evaluate(state: _State, spec: DetectorSpec, run: RecordedRun) -> EvaluationResult:
    detector = load_detector(evaluation_spec(spec.weights, spec.labels, backend=spec.backend, device=spec.device,
                                             precision=spec.precision, threads=spec.threads))
    try:
        result = evaluate(detector, state.test_split, progress=state.config.progress)
    finally:
        detector.close()
    record_metrics(run, result)
    return result


def _compare(state: _State, target: Target, run: RecordedRun, evaluation: EvaluationResult,
             outputs: tuple[np.ndarray, np.ndarray] | None) -> None:
    """ΔmAP (overall and per class) and output deviation against the target's FP32 reference, when measured."""
    reference = state.references.get(target.reference)
    if reference is None:
        return
    record_deltas(run, evaluation, reference.evaluation)
    if outputs is not None and reference.outputs is not None:
        for name, value in max_deviation(outputs, reference.outputs).items():
            run.metric(name, value)
