"""Scenario 1: one 640x480 frame -> boxes on the CPU with 2 threads, per backend and precision, beside pytorch-ssd's
own predictor measured in the same run.

    python -m benchmarks.cpu_detect [--min-seconds 10] [--threads 2]

The model is the bundled demo model (trained weights, so decode + NMS see real candidates) and the frame a bundled
sample picture resized to 640x480. Its INT8 model is built once with `core optimize` (ort-fp32 then ort-int8,
calibrated on a synthetic dataset the weights never saw) under the data root and reused.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2

from core.config import DEMO_DIR, SAMPLES_DIR, load_settings
from core.detect import DetectorSpec, load_detector
from core.optimize.formats import CPU_TARGETS, TARGETS_BY_NAME
from core.optimize.measure import RepeatConfig, measure_detect_call
from core.pictures.imageio import read_image

log = logging.getLogger(__name__)
DEMO_WEIGHTS, DEMO_LABELS = DEMO_DIR / "mb1-ssd-demo-fp16.pth", DEMO_DIR / "labels.txt"
SAMPLE_FRAME = SAMPLES_DIR / "shapes-1.jpg"
FRAME_SIZE = (640, 480)
CALIBRATION_DATASET_IMAGES = 250  # split 80/10/10: 200 train images to calibrate on
CALIBRATION_IMAGES = 200  # as in the first INT8 probe
CALIBRATION_SEED = 2026  # a seed the demo weights never saw


def benchmark_frame() -> tuple[Path, object]:
    return SAMPLE_FRAME, cv2.resize(read_image(SAMPLE_FRAME), FRAME_SIZE, interpolation=cv2.INTER_LINEAR)


def demo_models_dir() -> Path:
    return load_settings().data_root / "benchmarks" / "demo-models"


def ensure_int8_model() -> Path:
    """The demo model's ONNX Runtime INT8 file, built with `core optimize` the first time (minutes), then reused."""
    from benchmarks.common import configured_history
    from core.data.synthetic import make_synthetic_dataset
    from core.optimize.measure import SpeedConfig
    from core.optimize.pipeline import OptimizeConfig, optimize

    folder = demo_models_dir()
    int8 = folder / TARGETS_BY_NAME["ort-int8"].artifact_name
    if int8.is_file():
        return int8
    dataset = folder / "calibration-shapes"
    if not dataset.is_dir():
        make_synthetic_dataset(dataset, images=CALIBRATION_DATASET_IMAGES, seed=CALIBRATION_SEED)
    log.warning("building the demo model's INT8 ONNX once into %s", folder)
    config = OptimizeConfig(DEMO_WEIGHTS, DEMO_LABELS, dataset, folder, [TARGETS_BY_NAME["ort-int8"]],
                            calib_images=CALIBRATION_IMAGES, speed=SpeedConfig(1, 5, (1,)), threads=2,
                            device="cpu", progress=False)
    with configured_history() as history:
        _, outcomes = optimize(config, history)
    built = {outcome.target.name: outcome for outcome in outcomes}["ort-int8"]
    if built.artifact is None:
        raise RuntimeError(f"the INT8 model did not build: {built.failed or built.skipped}")
    return built.artifact


def configurations() -> list[tuple[str, str, Path]]:
    """(backend, precision, model file) of the targets table's CPU targets, the most optimized first: ort-int8 runs
    its built model, the others the .pth (which onnxruntime exports in memory)."""
    targets = [TARGETS_BY_NAME[name] for name in reversed(CPU_TARGETS)]
    built = {"ort-int8": ensure_int8_model()}
    return [(target.backend, target.precision, built.get(target.name, DEMO_WEIGHTS)) for target in targets]


def measure_configuration(backend: str, precision: str, weights: Path, frame, *, threads: int,
                          config: RepeatConfig) -> dict:
    spec = DetectorSpec(weights, DEMO_LABELS, backend=backend, device="cpu", precision=precision, threads=threads)
    detector = load_detector(spec)
    try:
        timing = measure_detect_call(detector, [frame], config)
        (detections,) = detector.detect([frame])
    finally:
        detector.close()
    return {"backend": backend, "precision": detector.precision, "model": weights.name, "threads": threads,
            "detections": len(detections), **timing}


def measure(*, min_seconds: float = 10.0, threads: int = 2, peer: bool = True) -> dict:
    """Every configuration, then the peer, on the same frame; a configuration that fails is a row with its error."""
    from benchmarks.peer import PeerUnavailable, measure_peer

    image, frame = benchmark_frame()
    config = RepeatConfig(warmup=10, min_seconds=min_seconds, min_repeats=50)
    rows = []
    for backend, precision, weights in configurations():
        try:
            rows.append(measure_configuration(backend, precision, weights, frame, threads=threads, config=config))
        except Exception as error:  # one configuration that cannot run here is a row with the reason, not a crash
            rows.append({"backend": backend, "precision": precision, "error": f"{type(error).__name__}: {error}"})
    result = {"frame": f"{image.name} resized to {FRAME_SIZE[0]}x{FRAME_SIZE[1]}", "threads": threads,
              "min_seconds": min_seconds, "configurations": rows}
    if peer:
        try:
            result["peer"] = measure_peer(DEMO_WEIGHTS, DEMO_LABELS, image=image, threads=threads,
                                          min_seconds=min_seconds)
        except PeerUnavailable as error:
            result["peer"] = {"error": str(error)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-peer", action="store_true", help="skip pytorch-ssd's predictor")
    args = parser.parse_args(argv)
    print(json.dumps(measure(min_seconds=args.min_seconds, threads=args.threads, peer=not args.no_peer), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
