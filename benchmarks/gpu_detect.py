"""GPU detection speed, frames in to boxes out through `Detector.detect` on one CUDA GPU (issue 16, target 3).

    python -m benchmarks.gpu_detect [--weights W.pth --labels L.txt] [--frames 1024] [--seconds 5]
                                    [--precision fp16] [--no-compile] [--json-out FILE]

Scenarios, each on BGR uint8 640x480 frames given to the public `detect()`:
- throughput: one caller, `--frames` frames per call (cut into chunks that run on all lanes at once);
- batch-1 latency: one frame per call, CUDA graphs;
- first call: 8 fresh threads call `detect([frame])` at the same moment right after load (warm-up at load);
- parity: the GPU path (resize on the GPU) against the CPU path (OpenCV resize, FP32) on the same frames;
- stages: the per-stage split of one chunk and of one frame (staging, upload, resize + network, decode + NMS).
On a machine without CUDA every row is "skipped: no CUDA GPU". `run(options)` is the suite's entry point.
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import save_rows_result, time_call
from core.config import load_settings
from core.detect import DetectorSpec, load_detector
from core.detect.registry import GPU_CHUNK_FRAMES
from core.model.catalog import models_or_untrained, sample_images

NAME = "gpu_detect"
THROUGHPUT_TARGET = 25_000.0  # img/s
LATENCY_TARGET_MS = 1.0
FIRST_CALL_TARGET_MS = 200.0
FIRST_CALL_THREADS = 8
FRAME_SHAPE = (480, 640)
MLPERF_A100_TRT_INT8 = 51_000.0  # MLPerf Inference, SSD-MobileNet-v1 offline, A100 with TensorRT INT8 (img/s)
MLPERF_XAVIER_NX = 1_787.0  # MLPerf Inference, SSD-MobileNet-v1 offline, Jetson Xavier NX (img/s)
SCORE_TOLERANCE = 0.01  # the tests' FP16-against-FP32 tolerance (identical pixels, other convolution kernels)
BOX_TOLERANCE_PX = 0.5
CONCURRENT_CALLERS = (2, 4)  # e.g. several pipelines or server instances sharing one detector
SCENARIOS = (("throughput, 640x480 frames -> boxes", f">= {THROUGHPUT_TARGET:,.0f} img/s"),
             ("batch-1 latency, 640x480 frame -> boxes", f"<= {LATENCY_TARGET_MS} ms"),
             ("a detect thread's first call after load", f"<= {FIRST_CALL_TARGET_MS:.0f} ms"),
             ("GPU resize parity with the CPU path", "same detections"),
             ("throughput, concurrent callers (best of " + ", ".join(map(str, CONCURRENT_CALLERS)) + ")",
              f">= {THROUGHPUT_TARGET:,.0f} img/s"))


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def test_frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` distinct 640x480 BGR frames: the bundled samples stretched to VGA, with per-frame noise and shifts."""
    rng = np.random.default_rng(seed)
    bases = [cv2.resize(cv2.imread(str(path)), FRAME_SHAPE[::-1]) for path in sample_images()]
    frames = []
    for index in range(count):
        base = np.roll(bases[index % len(bases)], int(rng.integers(-40, 40)), axis=1)
        noise = rng.integers(-6, 7, base.shape, dtype=np.int16)
        frames.append(np.clip(base.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return frames


def _row(scenario: int, ours: str, median: float | None, p95: float | None, unit: str, met: bool | None) -> dict:
    name, target = SCENARIOS[scenario]
    verdict = "met" if met else "missed" if met is not None else "measured"
    return {"scenario": name, "target": target, "ours": ours, "median": median, "p95": p95, "unit": unit,
            "verdict": verdict}


def skipped_rows(reason: str) -> list[dict]:
    return [{"scenario": name, "target": target, "ours": None, "median": None, "p95": None, "unit": None,
             "verdict": f"skipped: {reason}"} for name, target in SCENARIOS]


def measure_throughput(detector, frames: list[np.ndarray], seconds: float) -> dict:
    stats = time_call(lambda: detector.detect(frames), warmup=2, min_seconds=seconds, min_repeats=5)
    per_second = len(frames) * 1000.0 / stats["median_ms"]
    return {**stats, "frames_per_call": len(frames), "images_per_sec": per_second,
            "images_per_sec_p95_call": len(frames) * 1000.0 / stats["p95_ms"]}


def measure_concurrent_throughput(detector, frames: list[np.ndarray], callers: int, seconds: float) -> dict:
    """`callers` threads each calling `detect(frames)` back to back for `seconds`; total frames over wall time."""
    for _ in range(2):
        detector.detect(frames)
    calls = [0] * callers
    deadline = time.perf_counter() + seconds

    def caller(index: int) -> None:
        while time.perf_counter() < deadline:
            detector.detect(frames)
            calls[index] += 1

    begin = time.perf_counter()
    workers = [threading.Thread(target=caller, args=(index,)) for index in range(callers)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - begin
    return {"callers": callers, "frames_per_call": len(frames), "calls": calls,
            "images_per_sec": sum(calls) * len(frames) / wall}


def measure_first_calls(detector, frame: np.ndarray, threads: int) -> dict:
    """`threads` new threads released together; each times its own first `detect([frame])`."""
    barrier = threading.Barrier(threads)
    elapsed: list[float] = []
    lock = threading.Lock()

    def first_call() -> None:
        barrier.wait()
        begin = time.perf_counter()
        detector.detect([frame])
        with lock:
            elapsed.append((time.perf_counter() - begin) * 1000.0)

    workers = [threading.Thread(target=first_call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {"threads": threads, "first_call_ms": sorted(elapsed), "median_ms": statistics.median(elapsed),
            "max_ms": max(elapsed)}


def compare_with_cpu(gpu_detector, weights: Path, labels: Path, frames: list[np.ndarray]) -> dict:
    """Detections of the GPU path against the CPU path (OpenCV resize) on the same frames, at FP32 on both."""
    cpu_detector = load_detector(DetectorSpec(weights, labels, backend="torch", device="cpu",
                                              score_threshold=gpu_detector.score_threshold))
    worst_score = worst_box = 0.0
    same_labels = True
    count = 0
    for gpu, cpu in zip(gpu_detector.detect(frames), cpu_detector.detect(frames)):
        same_labels &= gpu.labels.tolist() == cpu.labels.tolist()
        if same_labels and len(cpu):
            worst_score = max(worst_score, float(np.abs(gpu.scores - cpu.scores).max()))
            worst_box = max(worst_box, float(np.abs(gpu.boxes - cpu.boxes).max()))
        count += len(cpu)
    cpu_detector.close()
    return {"frames": len(frames), "cpu_detections": count, "same_labels": same_labels,
            "max_score_diff": worst_score, "max_box_diff_px": worst_box,
            "within_tolerance": same_labels and worst_score <= SCORE_TOLERANCE and worst_box <= BOX_TOLERANCE_PX}


def _load(weights: Path, labels: Path, precision: str, compile_network: bool, chunk: int):
    begin = time.perf_counter()
    detector = load_detector(DetectorSpec(weights, labels, backend="torch", device="cuda", precision=precision,
                                          compile=compile_network, warmup_batch_sizes=(1, chunk)))
    return detector, time.perf_counter() - begin


def run(options: dict | None = None) -> dict:
    """The suite's entry: {"benchmark", "rows", "details"}; options: weights, labels, frames, seconds, precision,
    compile (all optional)."""
    options = options or {}
    if not _cuda_available():
        return {"benchmark": NAME, "rows": skipped_rows("no CUDA GPU"), "details": {}}
    chunk = GPU_CHUNK_FRAMES["torch"]
    if options.get("weights") and options.get("labels"):
        weights, labels = Path(options["weights"]), Path(options["labels"])
    else:
        model = models_or_untrained(load_settings())[0]
        weights, labels = model.weights, model.labels
    precision = options.get("precision", "fp16")
    compile_network = options.get("compile", True)
    seconds = float(options.get("seconds", 5.0))
    frames = test_frames(int(options.get("frames", 4 * chunk)))

    detector, load_seconds = _load(weights, labels, precision, compile_network, chunk)
    first = measure_first_calls(detector, frames[0], FIRST_CALL_THREADS)
    latency = time_call(lambda: detector.detect(frames[:1]), warmup=20, min_seconds=seconds, min_repeats=200)
    throughput = measure_throughput(detector, frames, seconds)
    concurrent_runs = [measure_concurrent_throughput(detector, frames, callers, seconds) for callers in CONCURRENT_CALLERS]
    concurrent = max(concurrent_runs, key=lambda run: run["images_per_sec"])
    stages = {"chunk": detector.stage_timings(frames[:chunk]), "one_frame": detector.stage_timings(frames[:1])}
    parity_half = compare_with_cpu(detector, weights, labels, frames[:64])
    detector.close()
    fp32, fp32_load_seconds = _load(weights, labels, "fp32", False, chunk)
    parity = compare_with_cpu(fp32, weights, labels, frames[:64])
    fp32_latency = time_call(lambda: fp32.detect(frames[:1]), warmup=20, min_seconds=seconds / 2, min_repeats=100)
    fp32.close()

    rate = throughput["images_per_sec"]
    rows = [
        _row(0, f"{rate:,.0f} img/s ({precision}, compile={compile_network})", rate,
             throughput["images_per_sec_p95_call"], "img/s", rate >= THROUGHPUT_TARGET),
        _row(1, f"{latency['median_ms']:.3f} ms", latency["median_ms"], latency["p95_ms"], "ms",
             latency["median_ms"] <= LATENCY_TARGET_MS),
        _row(2, f"max {first['max_ms']:.1f} ms over {FIRST_CALL_THREADS} threads", first["median_ms"],
             first["max_ms"], "ms", first["max_ms"] <= FIRST_CALL_TARGET_MS),
        _row(3, f"labels equal: {parity['same_labels']}, max score diff {parity['max_score_diff']:.2e}, "
                f"max box diff {parity['max_box_diff_px']:.3f} px", parity["max_score_diff"], None, "score",
             parity["within_tolerance"]),
        _row(4, f"{concurrent['images_per_sec']:,.0f} img/s ({concurrent['callers']} callers)",
             concurrent["images_per_sec"], None, "img/s",
             concurrent["images_per_sec"] >= THROUGHPUT_TARGET),
    ]
    details = {"weights": str(weights), "precision": precision, "compile": compile_network,
               "load_seconds": load_seconds, "fp32_load_seconds": fp32_load_seconds, "throughput": throughput,
               "latency": latency, "concurrent": concurrent_runs, "fp32_latency": fp32_latency, "first_calls": first, "parity": parity,
               f"parity_{precision}": parity_half,
               "stages_ms": stages, "mlperf_ratio": {"a100_trt_int8": rate / MLPERF_A100_TRT_INT8,
                                                    "xavier_nx": rate / MLPERF_XAVIER_NX}}
    return {"benchmark": NAME, "rows": rows, "details": details}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--frames", type=int, default=1024, help="frames per detect() call for throughput")
    parser.add_argument("--seconds", type=float, default=5.0, help="minimum measuring time per scenario")
    parser.add_argument("--precision", default="fp16", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--json-out", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = run({"weights": args.weights, "labels": args.labels, "frames": args.frames, "seconds": args.seconds,
                  "precision": args.precision, "compile": args.compile})
    save_rows_result(NAME, result, args.json_out)


if __name__ == "__main__":
    main()
