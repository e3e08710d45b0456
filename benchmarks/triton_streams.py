"""Benchmark: N real RTP H.265 cameras into one Triton Inference Server (`core serve`), end to end.

    python -m benchmarks.triton_streams [--cameras 1,2,4] [--seconds 20] [--device cpu|cuda] [--precision P]
                                        [--backend onnxruntime|torch] [--weights W] [--instances K] [--threads T]
                                        [--processes P] [--json OUT]

Each camera is an FFmpeg process replaying the demo scene, encoded once ahead with our sender's settings (H.265,
640x480, 30 fps, as `benchmarks.live_pipeline` replays it), as RTP to its own UDP port (where FFmpeg's command-line
tool is missing, `benchmarks.rtp_replay` processes replay the same encoding, 8 cameras each). Each camera is received by
a `LivePipeline` (the Live page's and `core receive`'s pipeline: RTP depacketizing, FFmpeg decoding, the newest
frame to the detector, older ones skipped) whose detector is the `triton` backend; the receivers are spread over
several processes (--processes, default one per camera up to the core count), so no GIL is shared by all cameras.
The server runs the whole detector (`--input frames`) with --instances model instances.

Before the Triton rows, one camera with the same model loaded locally in the receiver (no server) gives the local
figure to compare with. Per camera count: aggregate and per-camera processed fps, frames that arrived, p50/p95/max
latency from a frame's first RTP packet to its detections, decode milliseconds per frame, skipped frames, errors,
Triton's own statistics (requests, executions = batches, mean batch, queue and compute time per request), and where
the cores went (CPU seconds per second of the receivers, senders, tritonserver, the model instances, and everything
else on the machine; and per processed frame, which a busy machine shifts far less than fps), with the load average.
Once: the seconds the server took to be ready (its instances' load and warm-up). Writes JSON (benchmarks/results/,
and --json OUT) and records a `benchmark` run.

On a GPU machine (CUDA torch, no internet):
    python -m benchmarks.triton_streams --device cuda --precision fp16 --cameras 1,4,8,16,32,64 --json OUT
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchmarks.common import publish_results
from benchmarks.live_pipeline import CLIP_FRAMES, FPS, replay_command, write_demo_clip
from benchmarks.rtp_replay import demo_units, write_units
from core.detect import DetectorSpec
from core.serve.names import default_queue_delay_us
from core.serve.process import ServeProcess
from core.timing.percentiles import percentile

ROOT = Path(__file__).resolve().parents[1]
DEMO_WEIGHTS = ROOT / "assets/demo/mb1-ssd-demo-fp16.pth"
DEMO_LABELS = ROOT / "assets/demo/labels.txt"
REQUEST_TIMEOUT_S = 10.0  # saturation should show as latency or skipped frames, not as errors
READY_TIMEOUT_S = 180.0
STATS_WINDOW = 100_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PORTS_PER_REPLAYER = 8


@dataclass(frozen=True)
class Camera:
    """What one receiver process runs: `cameras` pipelines, each with a detector of `spec`."""

    number: int
    cameras: int
    spec: DetectorSpec
    request_timeout_s: float = REQUEST_TIMEOUT_S


def receiver(camera: Camera, ready, measure, stop, results) -> None:
    """A receiver process: its pipelines, then counters and latencies between the `measure` and `stop` events."""
    from core.detect import load_detector
    from core.detect.remote import RemoteClients
    from core.live import LivePipeline
    from core.stream import open_source

    pipelines, clients = [], RemoteClients()  # one connection to the server for every camera of this process
    for _ in range(camera.cameras):
        detector = load_detector(camera.spec, remote_clients=clients)
        if camera.spec.backend == "triton":
            detector.timeout_s = camera.request_timeout_s
        pipelines.append(LivePipeline(open_source("rtp://127.0.0.1:0?codec=h265"), detector,
                                      stats_window=STATS_WINDOW).start())
    ready.put((camera.number, os.getpid(), [pipeline.source.port for pipeline in pipelines]))
    latencies: list[list[float]] = [[] for _ in pipelines]
    decode_ms: list[list[float]] = [[] for _ in pipelines]

    def watch(index: int) -> None:  # every result this process sees while measuring
        pipeline, sequence = pipelines[index], 0
        while not stop.is_set():
            result = pipeline.wait_result(sequence, timeout=0.5)
            if result is None or result.sequence == sequence:
                continue
            sequence = result.sequence
            if measure.is_set() and not stop.is_set():
                latencies[index].append(result.latency_ms)
                decode_ms[index].append(result.timings.get("decode", 0.0))

    watchers = [threading.Thread(target=watch, args=(index,), daemon=True) for index in range(len(pipelines))]
    for watcher in watchers:
        watcher.start()
    measure.wait()
    started, cpu_started = time.monotonic(), time.process_time()
    before = [(pipeline.frames_in, pipeline.frames_processed, pipeline.frames_skipped, pipeline.detector_errors)
              for pipeline in pipelines]
    stop.wait()
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
    after = [(pipeline.frames_in, pipeline.frames_processed, pipeline.frames_skipped, pipeline.detector_errors)
             for pipeline in pipelines]
    for watcher in watchers:
        watcher.join(timeout=2)
    cameras = [{"fps_in": (end[0] - begin[0]) / elapsed, "fps_processed": (end[1] - begin[1]) / elapsed,
                "skipped": end[2] - begin[2], "errors": end[3] - begin[3],
                "last_error": (pipeline.stats()["detector_last_error"] or {}).get("message")}
               for pipeline, begin, end in zip(pipelines, before, after)]
    results.put({"number": camera.number, "cameras": cameras, "cpu_s": cpu, "seconds": elapsed,
                 "transport": getattr(pipelines[0].detector, "transport", "in process"),
                 "latencies": [value for values in latencies for value in values],
                 "decode_ms": [value for values in decode_ms for value in values]})
    for pipeline in pipelines:
        pipeline.stop()
    clients.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (0 if it has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores of the machine spent not idle so far."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS  # minus idle and iowait


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def cpu_groups(groups: dict[str, list[int]]) -> dict[str, float]:
    snapshot = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}
    snapshot["machine"] = machine_busy_seconds()
    return snapshot


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    array = np.asarray(values)
    return {"p50": round(percentile(array, 50), 1), "p95": round(percentile(array, 95), 1),
            "max": round(float(array.max()), 1)}


def sender_commands(sender: str, clip: Path, ports: list[int], seconds: float) -> list[list[str]]:
    """The camera processes: one FFmpeg replay of `clip` (Matroska) per port, or our own replayer of `clip` (its
    access units) for up to PORTS_PER_REPLAYER ports each, where FFmpeg's command-line tool is not installed."""
    if sender == "ffmpeg":
        return [replay_command(clip, port, seconds) for port in ports]
    return [[sys.executable, "-m", "benchmarks.rtp_replay", "--units", str(clip), "--seconds", f"{seconds:g}",
             "--ports", ",".join(str(port) for port in ports[start:start + PORTS_PER_REPLAYER])]
            for start in range(0, len(ports), PORTS_PER_REPLAYER)]


def measure(spec: DetectorSpec, cameras: int, *, processes: int, clip: Path, seconds: float, warmup: float,
            server: ServeProcess | None, sender: str) -> dict:
    """One row: `cameras` senders and pipelines (over `processes` receiver processes) for `seconds` after `warmup`."""
    context = multiprocessing.get_context("spawn")
    ready, results, measure_event, stop_event = context.Queue(), context.Queue(), context.Event(), context.Event()
    shares = [cameras // processes + (number < cameras % processes) for number in range(processes)]
    workers = [context.Process(target=receiver, args=(Camera(number, share, spec), ready, measure_event, stop_event,
                                                      results), daemon=True)
               for number, share in enumerate(shares) if share]
    for worker in workers:
        worker.start()
    senders: list[subprocess.Popen] = []
    try:
        ports = [port for _, _, worker_ports in (ready.get(timeout=READY_TIMEOUT_S) for _ in workers)
                 for port in worker_ports]
        senders = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
                   for command in sender_commands(sender, clip, ports, warmup + seconds + READY_TIMEOUT_S)]
        time.sleep(warmup)
        groups = {"receivers": [worker.pid for worker in workers], "senders": [sender.pid for sender in senders]}
        if server is not None:
            tritonserver = children(server.process.pid)
            groups.update({"core serve": [server.process.pid], "tritonserver": tritonserver,
                           "model instances": [pid for parent in tritonserver for pid in children(parent)]})
        statistics = server.statistics() if server is not None else None
        cpu_before, started = cpu_groups(groups), time.monotonic()
        measure_event.set()
        time.sleep(seconds)
        stop_event.set()
        elapsed = time.monotonic() - started
        cpu_after = cpu_groups(groups)
        statistics = ({key: value - statistics[key] for key, value in server.statistics().items()}
                      if server is not None else None)
        reports = [results.get(timeout=READY_TIMEOUT_S) for _ in workers]
    finally:
        stop_event.set()
        for sender in senders:
            sender.kill()
            sender.wait()
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    per_camera = [camera for report in reports for camera in report["cameras"]]
    latencies = [value for report in reports for value in report["latencies"]]
    decode = [value for report in reports for value in report["decode_ms"]]
    cores = {name: round((cpu_after[name] - cpu_before[name]) / elapsed, 2) for name in cpu_before}
    cores["other processes"] = round(cores.pop("machine") - sum(cores.values()), 2)
    fps_processed = sum(camera["fps_processed"] for camera in per_camera)
    row = {
        "cameras": cameras,
        "receiver_processes": len(workers),
        "transport": sorted({report["transport"] for report in reports}),
        "offered_fps": round(cameras * FPS, 1),
        "fps_in": round(sum(camera["fps_in"] for camera in per_camera), 1),
        "fps_processed": round(fps_processed, 1),
        "fps_per_camera_min": round(min(camera["fps_processed"] for camera in per_camera), 1),
        "fps_per_camera_median": round(float(np.median([camera["fps_processed"] for camera in per_camera])), 1),
        "latency_ms": _percentiles(latencies),
        "decode_ms_p50": round(float(np.median(decode)), 2) if decode else None,
        "frames_skipped": sum(camera["skipped"] for camera in per_camera),
        "errors": sum(camera["errors"] for camera in per_camera),
        "last_error": next((camera["last_error"] for camera in per_camera if camera["last_error"]), None),
        "cores": cores,
        "cpu_ms_per_processed_frame": ({name: round(value * 1000 / fps_processed, 2) for name, value in cores.items()
                                        if name != "other processes"} if fps_processed else None),
    }
    if statistics is not None:
        requests, executions = statistics["inference_count"], statistics["execution_count"]
        row["server"] = {
            "requests": requests, "executions": executions,
            "mean_batch": round(requests / executions, 2) if executions else None,
            **{f"{stage}_ms_per_request": round(statistics[f"{stage}_ns"] / 1e6 / requests, 2) if requests else None
               for stage in ("queue", "compute_input", "compute_infer", "compute_output")}}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def _shown(path: Path) -> str:
    """`path` as the results show it: relative to the project or the data root, never this machine's folders."""
    from core.config import load_settings

    for root in (ROOT, load_settings().data_root):
        if Path(path).resolve().is_relative_to(Path(root).resolve()):
            return str(Path(path).resolve().relative_to(Path(root).resolve()))
    return Path(path).name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", default="1,2,4", help="camera counts to measure (default 1,2,4)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per camera count")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds before each measurement")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the server runs the model")
    parser.add_argument("--backend", help="the server's runtime (default: onnxruntime on cpu, torch on cuda)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16", "int8"))
    parser.add_argument("--weights", type=Path,
                        help="default: the demo model (its INT8 ONNX, built once, for onnxruntime on cpu)")
    parser.add_argument("--instances", type=int, help="model instances (default 2 on cpu, 4 on cuda)")
    parser.add_argument("--threads", type=int, help="CPU threads per instance (default: cores / instances on cpu)")
    parser.add_argument("--processes", type=int, help="receiver processes (default: one per camera, at most the "
                        "core count)")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--queue-delay-us", type=int, help="the batcher's wait (default: core serve's for the device)")
    parser.add_argument("--no-local", action="store_true", help="skip the one-camera local-detector row")
    parser.add_argument("--sender", choices=("auto", "ffmpeg", "python"), default="auto",
                        help="cameras: FFmpeg replays, or our own replayer (auto: FFmpeg where it is installed)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    counts = [int(count) for count in args.cameras.split(",")]
    cores = os.cpu_count() or 1
    backend = args.backend or ("onnxruntime" if args.device == "cpu" else "torch")
    instances = args.instances or (2 if args.device == "cpu" else 4)
    queue_delay_us = default_queue_delay_us(args.device) if args.queue_delay_us is None else args.queue_delay_us
    threads = args.threads or (max(1, cores // instances) if args.device == "cpu" else None)
    if args.weights:
        weights = args.weights
    elif backend == "onnxruntime" and args.device == "cpu" and args.precision in ("auto", "int8"):
        from benchmarks.cpu_detect import ensure_int8_model

        weights = ensure_int8_model()
    else:
        weights = DEMO_WEIGHTS
    local_spec = DetectorSpec(weights, DEMO_LABELS, backend=backend, device=args.device, precision=args.precision,
                              threads=cores if args.device == "cpu" else None)
    load_average = [round(value, 2) for value in os.getloadavg()]
    options = ["--input", "frames", "--backend", backend, "--device", args.device, "--precision", args.precision,
               "--max-batch", str(args.max_batch), "--queue-delay-us", str(queue_delay_us),
               "--instances", str(instances), *(["--threads", str(threads)] if threads else [])]
    sender = args.sender if args.sender != "auto" else ("ffmpeg" if shutil.which("ffmpeg") else "python")
    with tempfile.TemporaryDirectory(prefix="eds-triton-streams-") as folder:
        clip = (write_demo_clip(Path(folder) / "demo-640x480.mkv", 640, 480) if sender == "ffmpeg" else
                write_units(Path(folder) / "demo-640x480.units", demo_units(640, 480, FPS, CLIP_FRAMES)))
        local = None
        if not args.no_local:
            local = measure(local_spec, 1, processes=1, clip=clip, seconds=args.seconds, warmup=args.warmup,
                            server=None, sender=sender)
        rows = []
        starting = time.monotonic()
        with ServeProcess(weights, DEMO_LABELS, options=options) as server:
            ready_s = round(time.monotonic() - starting, 1)  # the instances' load and warm-up included
            remote = replace(local_spec, backend="triton", triton_url=server.url, threads=None)
            for cameras in counts:
                processes = min(cameras, args.processes or cores)
                rows.append(measure(remote, cameras, processes=processes, clip=clip, seconds=args.seconds,
                                    warmup=args.warmup, server=server, sender=sender))
    results = {"server": {"input": "frames", "backend": backend, "device": args.device, "precision": args.precision,
                          "weights": _shown(weights), "instances": instances, "threads_per_instance": threads,
                          "max_batch": args.max_batch, "queue_delay_us": queue_delay_us, "ready_s": ready_s},
               "camera": {"width": 640, "height": 480, "fps": FPS, "codec": "h265", "sender": f"{sender} replay"},
               "seconds": args.seconds, "load_average_at_start": load_average,
               "load_average_at_end": [round(value, 2) for value in os.getloadavg()], "local": local, "rows": rows}
    metrics = {}
    for row in rows:
        metrics[f"cameras_{row['cameras']}_fps_processed"] = (row["fps_processed"], "fps")
        if row["latency_ms"]["p95"] is not None:
            metrics[f"cameras_{row['cameras']}_latency_p95_ms"] = (row["latency_ms"]["p95"], "ms")
    publish_results("triton_streams", results, metrics, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
