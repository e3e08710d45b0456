"""Detector speed per backend on 640x480 frames: ms/frame for batch 1 and batch 8, split into stages.

    python -m benchmarks.detect_backends [--weights W.pth --labels L.txt] [--threads 2] [--device cpu]

Without --weights it uses the bundled demo model (or a seeded untrained one: speed does not depend on the weights).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import save_results, time_call
from core.config import load_settings
from core.detect import DetectorSpec, available_backends, load_detector
from core.detect.postprocess import postprocess
from core.detect.preprocess import preprocess_batch
from core.errors import UserError
from core.model.catalog import models_or_untrained


def frames_640x480(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(count)]


def measure_backend(spec: DetectorSpec, batch_sizes: list[int]) -> dict:
    detector = load_detector(spec)
    rows = {}
    for batch_size in batch_sizes:
        frames = frames_640x480(batch_size)
        batch, sizes = preprocess_batch(frames)
        scores, boxes = detector.infer(batch)
        stages = {
            "end_to_end": time_call(lambda: detector.detect(frames)),
            "preprocess": time_call(lambda: preprocess_batch(frames)),
            "infer": time_call(lambda: detector.infer(batch)),
            "postprocess": time_call(lambda: postprocess(scores, boxes, sizes, spec.score_threshold)),
        }
        rows[f"batch_{batch_size}"] = {
            "ms_per_frame": stages["end_to_end"]["median_ms"] / batch_size,
            "fps": 1000 * batch_size / stages["end_to_end"]["median_ms"],
            "stages_ms_per_batch": {name: stats["median_ms"] for name, stats in stages.items()},
            "p95_ms_per_batch": stages["end_to_end"]["p95_ms"],
        }
    detector.close()
    return {"backend": spec.backend, "device": detector.device, "precision": detector.precision, "results": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--batch-sizes", default="1,8")
    args = parser.parse_args()
    if args.weights and args.labels:
        weights, labels = args.weights, args.labels
    else:
        model = models_or_untrained(load_settings())[0]
        weights, labels = model.weights, model.labels
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows = []
    for backend in available_backends():
        precisions = ["fp32", "fp16"] if backend == "torch" and args.device != "cpu" else ["fp32"]
        for precision in precisions:
            spec = DetectorSpec(weights, labels, backend=backend, device=args.device, precision=precision,
                                score_threshold=0.4, threads=args.threads)
            try:
                rows.append(measure_backend(spec, batch_sizes))
            except UserError as error:  # a backend that cannot run here becomes a row with its reason
                rows.append({"backend": backend, "precision": precision, "error": str(error)})
    metrics = {f"{row['backend']}_{row['device']}_{row['precision']}_{name}_ms_per_frame": (result["ms_per_frame"], "ms")
               for row in rows if "error" not in row for name, result in row["results"].items()}
    path = save_results("detect_backends", {"weights": str(weights), "threads": args.threads,
                                            "frame": [480, 640, 3], "rows": rows}, metrics)
    for row in rows:
        if "error" in row:
            print(f"{row['backend']:12s} {row['precision']:5s} unavailable: {row['error']}")
            continue
        cells = "  ".join(f"{name}: {r['ms_per_frame']:.1f} ms/frame ({r['fps']:.1f} fps)" for name, r in row["results"].items())
        print(f"{row['backend']:12s} {row['device']:5s} {row['precision']:5s} {cells}")
    print(json.dumps({"json": str(path)}))


if __name__ == "__main__":
    main()
