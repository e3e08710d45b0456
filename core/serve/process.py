"""`python -m core serve` as a child process on chosen ports (tests, benchmarks): start, wait until it serves, read
Triton's own statistics, stop with SIGINT or kill the whole process group (our process, its
tritonserver and the model instances).

Each start gets its own temporary folder (TMPDIR of the child: the model repository lives there) that is removed
once the process has ended, with the Python backend's shared-memory regions, so a killed server leaves nothing
behind."""
from __future__ import annotations

import json
import os
from collections import deque
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from core.errors import UserError
from core.serve.names import DEFAULT_MODEL_NAME
from core.serve.tritonserver import shm_prefix

START_TIMEOUT_S = 300.0  # the model loads in `core serve` first, then in every instance (minutes on a loaded 2-core machine)
STOP_TIMEOUT_S = 20.0
STDERR_LINES_KEPT = 1000
STAGES = ("queue", "compute_input", "compute_infer", "compute_output")  # per request, in Triton's statistics
READY_PREFIX = '{"serving"'  # the one JSON line `core serve` prints once the model is loaded
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # where `python -m core` runs from


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that were free on `host` a moment ago."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def model_statistics(payload: dict) -> dict[str, int]:
    """Triton's statistics answer (`/v2/models/<model>/stats`) summed over the model's versions: `inference_count`
    (requests), `execution_count` (batches run: fewer than requests when the dynamic batcher grouped them) and the
    cumulative nanoseconds of each request's stages (`queue_ns`, `compute_input_ns`, `compute_infer_ns`,
    `compute_output_ns`). Counted as each request completes, unlike the Prometheus metrics, refreshed periodically."""
    totals = dict.fromkeys(("inference_count", "execution_count", *(f"{stage}_ns" for stage in STAGES)), 0)
    for version in payload["model_stats"]:
        totals["inference_count"] += int(version.get("inference_count", 0))
        totals["execution_count"] += int(version.get("execution_count", 0))
        for stage in STAGES:
            totals[f"{stage}_ns"] += int(version["inference_stats"][stage]["ns"])
    return totals


class ServeProcess:
    """One `core serve` child on 127.0.0.1 with fixed ports, so it can be killed and restarted on the same ones."""

    def __init__(self, weights: Path, labels: Path, *, options: Sequence[str] = (), ports: Sequence[int] | None = None,
                 model: str = DEFAULT_MODEL_NAME) -> None:
        self.weights, self.labels, self.options, self.model = Path(weights), Path(labels), list(options), model
        self.grpc_port, self.http_port, self.metrics_port = ports or free_ports(3)
        self.url = f"grpc://127.0.0.1:{self.grpc_port}"
        self.process: subprocess.Popen | None = None
        self.stderr_lines: deque[str] = deque(maxlen=STDERR_LINES_KEPT)  # the newest lines it wrote to stderr
        self._workspace: str | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "core", "serve", "--weights", str(self.weights), "--labels", str(self.labels),
                "--address", "127.0.0.1", "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port),
                "--metrics-port", str(self.metrics_port), "--model-name", self.model, *self.options]

    def start(self, timeout: float = START_TIMEOUT_S) -> ServeProcess:
        """Start it and return once the model is loaded (a UserError if it is not within `timeout` seconds)."""
        self._workspace = tempfile.mkdtemp(prefix="eds-serve-")
        self.process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        cwd=PROJECT_ROOT, start_new_session=True,
                                        env={**os.environ, "TMPDIR": self._workspace})
        ready = threading.Event()
        errors = self.stderr_lines

        def drain(stream, on_line) -> None:  # read until the process ends, so a full pipe never blocks it
            for line in stream:
                on_line(line)

        threading.Thread(target=drain, args=(self.process.stdout, lambda line: line.startswith(READY_PREFIX)
                                             and ready.set()), daemon=True).start()
        threading.Thread(target=drain, args=(self.process.stderr, lambda line: errors.append(line.strip())),
                         daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.2):
            exited = self.process.poll() is not None
            if exited or time.monotonic() > deadline:
                self.kill()
                last = next((line for line in reversed(errors) if line.startswith("error:")), "")
                what = "core serve exited before serving" if exited else f"core serve did not start within {timeout:g} s"
                raise UserError(f"{what} {last}".strip())
        return self

    def kill(self) -> None:
        """SIGKILL the process group: a server that dies rather than stops."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self._remove_workspace()

    def stop(self) -> None:
        """Ctrl-C (SIGINT to the group), then SIGKILL if it has not ended in time."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
        self._remove_workspace()

    def _remove_workspace(self) -> None:
        if self._workspace is not None:
            shutil.rmtree(self._workspace, ignore_errors=True)
            self._workspace = None
        if self.process is not None:
            for region in Path("/dev/shm").glob(f"{shm_prefix(self.process.pid)}*"):
                region.unlink(missing_ok=True)

    def statistics(self) -> dict[str, int]:
        """Triton's own statistics of this server's model (`model_statistics`), read now."""
        url = f"http://127.0.0.1:{self.http_port}/v2/models/{self.model}/stats"
        with urllib.request.urlopen(url, timeout=5) as response:
            return model_statistics(json.load(response))

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
