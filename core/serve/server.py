"""A Triton Inference Server (the real `tritonserver`) serving one model on its Python backend, in either mode:

- tensors: `input_0`, preprocessed FP32 [3,300,300] per request, returns `scores` [3000,C] and `boxes` [3000,4],
  exactly the exported ONNX graph (what NVIDIA's container serves from `export-triton`);
- frames (`core.serve.frames.frames_model`): BGR uint8 frames in, detections out.

tritonserver's dynamic batcher groups queued requests (from any number of clients) into batches and hands each batch
to a free instance; each instance is a stub process running our model with its own interpreter, so `instances`
batches run at once. Health (`/v2/health/ready`), statistics (`/v2/models/<model>/stats`) and Prometheus metrics
(`/metrics`) are on Triton's usual endpoints.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.model.triton_repository import check_model_name
from core.serve.models import BoundModel, ModelSpec
from core.serve.names import (
    DEFAULT_GRPC_PORT,
    DEFAULT_HTTP_PORT,
    DEFAULT_INSTANCES,
    DEFAULT_MAX_BATCH,
    DEFAULT_METRICS_PORT,
    DEFAULT_MODEL_NAME,
    DEFAULT_QUEUE_DELAY_US,
)
from core.serve.repository import python_config_text, write_python_repository
from core.serve.tritonserver import find_triton, python_backend_folder, server_command, server_environment

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 600.0  # every instance loads the model (on CUDA: warm-up and graph captures) before "ready"
STOP_TIMEOUT_S = 20.0
ERROR_LOG_LINE = "E"  # tritonserver's error lines start with E<date>


@dataclass(frozen=True)
class ServerOptions:
    """Ports, bind address, batching and instances of one server."""

    grpc_port: int = DEFAULT_GRPC_PORT
    http_port: int = DEFAULT_HTTP_PORT
    metrics_port: int = DEFAULT_METRICS_PORT
    address: str = "0.0.0.0"
    model_name: str = DEFAULT_MODEL_NAME
    max_batch: int = DEFAULT_MAX_BATCH
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US
    instances: int = DEFAULT_INSTANCES
    log_file: Path | None = None  # tritonserver's own log (None: its stdout)

    def check(self) -> ServerOptions:
        ports = {"grpc": self.grpc_port, "http": self.http_port, "metrics": self.metrics_port}
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise UserError(f"--{name}-port must be 1..65535, got {port}")
        if len(set(ports.values())) != len(ports):
            raise UserError(f"the grpc, http and metrics ports must differ, got {sorted(ports.values())}")
        if self.max_batch < 1:
            raise UserError(f"--max-batch must be at least 1, got {self.max_batch}")
        if self.queue_delay_us < 0:
            raise UserError(f"--queue-delay-us must not be negative, got {self.queue_delay_us}")
        if not 1 <= self.instances <= 64:
            raise UserError(f"--instances must be 1..64, got {self.instances}")
        check_model_name(self.model_name)
        return self

    def endpoints(self, host: str = LOOPBACK) -> dict[str, str]:
        return {"grpc": f"grpc://{host}:{self.grpc_port}", "http": f"http://{host}:{self.http_port}",
                "metrics": f"http://{host}:{self.metrics_port}/metrics"}


def _ready(options: ServerOptions) -> bool:
    url = f"http://{LOOPBACK if options.address in ('0.0.0.0', '::') else options.address}:{options.http_port}"
    try:
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _last_error(log_file: Path | None) -> str:
    """The last error line tritonserver logged (its reason for not serving), without the log prefix."""
    if log_file is None or not log_file.is_file():
        return ""
    errors = [line for line in log_file.read_text(errors="replace").splitlines() if line.startswith(ERROR_LOG_LINE)]
    return errors[-1].split("] ", 1)[-1][:300] if errors else ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def triton_server(spec: ModelSpec, model: BoundModel, precision: str, options: ServerOptions,
                  *, start_timeout: float = START_TIMEOUT_S) -> Iterator[subprocess.Popen]:
    """tritonserver serving `spec` (whose tensors are `model`'s), ready when this yields its process; stopped (as
    Ctrl-C stops it) on leaving. A server that exits or is not ready within `start_timeout` is a UserError."""
    options.check()
    install = find_triton()
    workspace = Path(tempfile.mkdtemp(prefix="eds-triton-"))
    try:
        config = python_config_text(model_name=options.model_name, model=model, precision=precision,
                                    max_batch=options.max_batch, queue_delay_us=options.queue_delay_us,
                                    instances=options.instances)
        write_python_repository(workspace / "models", model_name=options.model_name, spec=spec, config=config)
        backends = python_backend_folder(install, workspace / "backends")
        command = server_command(install, workspace / "models", backends, grpc_port=options.grpc_port,
                                 http_port=options.http_port, metrics_port=options.metrics_port,
                                 address=options.address, log_file=options.log_file, pid=os.getpid())
        environment = server_environment(install, os.environ, sysconfig.get_config_var("LIBDIR"))
        process = subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + start_timeout
            while not _ready(options):
                if process.poll() is not None or time.monotonic() > deadline:
                    what = ("tritonserver exited before serving" if process.poll() is not None
                            else f"tritonserver was not ready within {start_timeout:g} s")
                    raise UserError(f"{what}: {_last_error(options.log_file) or 'see its log'}")
                time.sleep(0.2)
            log.info("serving %s (%s, %d instances) at %s", options.model_name, model.description,
                     options.instances, options.endpoints())
            yield process
        finally:
            _stop(process)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
