"""`python -m core optimize` killed while it builds the INT8 model: no artifact appears under its final name, and the
run ends `interrupted` (at once for SIGTERM, at the history's next opening for SIGKILL)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import DEMO_DIR
from core.data.synthetic import make_synthetic_dataset
from core.ledger import History, RunFilters
from db import queries
from db.engine import make_engine, session_scope
from tests.polling import wait_for

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]


def _optimize_runs(url: str) -> dict[str, tuple[str, set[str]]]:
    """target -> (status, names of its summary metrics), read as stored (opening the history would sweep dead runs)."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            rows = queries.page_runs(session, filters=RunFilters(kinds=("optimize",)), limit=100).rows
            names = {row.id: set() for row in rows}
            for metric in queries.metrics_of_runs(session, run_ids=names):
                names[metric.run_id].add(metric.name)
            return {row.params["target"]: (row.status, names[row.id]) for row in rows}
    finally:
        engine.dispose()


def _wait_for_running(url: str, target: str, process: subprocess.Popen, *, timeout: float = 180.0) -> None:
    def running() -> bool:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        return _optimize_runs(url).get(target, ("",))[0] == "running"

    if not wait_for(running, timeout, interval=0.2):
        pytest.fail(f"the {target} run did not start within {timeout:.0f} s")


@pytest.mark.parametrize("kill_signal", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_int8_build_leaves_no_artifact_and_an_interrupted_run(tmp_path, kill_signal):
    data = make_synthetic_dataset(tmp_path / "synth", images=60, seed=2)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    History.open(url).close()
    output = tmp_path / "artifacts"
    command = [sys.executable, "-m", "core", "optimize", "--weights", str(DEMO_DIR / "mb1-ssd-demo-fp16.pth"),
               "--labels", str(DEMO_DIR / "labels.txt"), "--data", str(data), "--targets", "ort-int8",
               "--calib-images", "48", "--batch-sizes", "1", "--repeats", "1", "--output", str(output),
               "--db-url", url, "--no-progress"]
    env = {**os.environ, "EDS_DATA_ROOT": str(tmp_path / "root")}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    try:
        _wait_for_running(url, "ort-int8", process)
        time.sleep(0.3)
        process.send_signal(kill_signal)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    status, metrics = _optimize_runs(url)["ort-int8"]
    assert "calib_images_used" not in metrics, "the kill came after the INT8 build had finished"
    assert (output / "model-ort-fp32.onnx").is_file()
    assert not (output / "model-ort-int8.onnx").exists()
    if kill_signal == signal.SIGTERM:
        assert process.returncode == 130 and status == "interrupted"
        assert not [path.name for path in output.iterdir() if path.name.startswith(".")]
    else:
        assert status == "running"
        History.open(url).close()
        assert _optimize_runs(url)["ort-int8"][0] == "interrupted"
