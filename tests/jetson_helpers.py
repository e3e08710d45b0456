"""What the Jetson tests share: a small bundle packed from the demo model, the fake libcudart built from source, and
running the Jetson program under one JetPack's interpreter with that JetPack's fake TensorRT."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import DEMO_DIR, load_settings
from core.data.synthetic import make_synthetic_dataset
from core.jetson.pack import PackConfig, pack
from core.ledger import History
from tests.jetson_envs import FAKES, REPO_ROOT, JetsonEnv, SetupMissing, python_path, require

DEMO_WEIGHTS, DEMO_LABELS = DEMO_DIR / "mb1-ssd-demo-fp16.pth", DEMO_DIR / "labels.txt"
PROGRAM_TIMEOUT_S = 240


def make_bundle(root: Path, *, images: int = 40, eval_images: int = 4, calib_images: int = 6,
                batch_sizes: tuple[int, ...] = (1, 4), db_url: str | None = None) -> Path:
    """A bundle of the demo model over a synthetic dataset (recorded in `db_url`, default the current history)."""
    data = make_synthetic_dataset(root / "shapes", images=images, seed=3)
    output = root / "bundle"
    with History.open(db_url or load_settings().database_url) as history:
        pack(PackConfig(model=DEMO_WEIGHTS, labels=DEMO_LABELS, data=data, output=output, batch_sizes=batch_sizes,
                        calib_images=calib_images, eval_images=eval_images, threads=1, progress=False,
                        stream_host="192.168.1.10"), history)
    return output


def build_fake_cudart(folder: Path) -> Path:
    """tests/jetson_fakes/libcudart_fake.c compiled as `folder/libcudart.so` (what the ctypes binding loads)."""
    folder.mkdir(parents=True, exist_ok=True)
    library = folder / "libcudart.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(library), str(FAKES / "libcudart_fake.c")],
                   check=True, timeout=120)
    return library


@dataclass(frozen=True)
class ProgramRun:
    returncode: int
    stdout: str
    stderr: str
    leaks: dict  # what the fake CUDA library still held at the program's exit

    def check(self) -> ProgramRun:
        assert self.returncode == 0, f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"
        return self


def run_program(env: JetsonEnv, arguments: list[str], *, work: Path, cuda: str, cudart: Path | None = None,
                extra_env: dict[str, str] | None = None, script: str | None = None) -> ProgramRun:
    """`python -m jetson_kit ARGUMENTS` (or a `script`) under `env`'s interpreter, numpy and fake TensorRT, with CUDA
    through the fake pycuda or the fake libcudart (`cuda`); fails the test when the environment is missing."""
    try:
        python = require(env)
    except SetupMissing as error:
        pytest.fail(str(error))
    work.mkdir(parents=True, exist_ok=True)
    report = work / f"leaks-{cuda}.jsonl"
    report.unlink(missing_ok=True)
    variables = {key: value for key, value in os.environ.items() if not key.startswith(("FAKE_", "PYTHON"))}
    variables.update({
        "PYTHONPATH": python_path(env, pycuda=cuda == "pycuda"), "PYTHONDONTWRITEBYTECODE": "1",
        "FAKE_PYCUDA_REPORT" if cuda == "pycuda" else "FAKE_CUDART_REPORT": str(report),
        **({"FAKE_CUDART": str(cudart), "LD_LIBRARY_PATH": str(cudart.parent)} if cudart else {}),
        **(extra_env or {}),
    })
    command = [str(python), "-c", script] if script else [str(python), "-m", "jetson_kit", *arguments, "--cuda", cuda]
    done = subprocess.run(command, cwd=REPO_ROOT, env=variables, capture_output=True, text=True,
                          timeout=PROGRAM_TIMEOUT_S, check=False)
    lines = report.read_text().splitlines() if report.exists() else []
    return ProgramRun(done.returncode, done.stdout, done.stderr, json.loads(lines[-1]) if lines else {})


def read_runs(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]


def metrics_of(record: dict) -> dict[str, float]:
    return {item["name"]: item["value"] for item in record["metrics"] if item["epoch"] is None
            and item["class_name"] is None}
