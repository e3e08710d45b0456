"""Tests never write into the checkout's data root or run history: tests/conftest.py gives each test its own."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from core.config import REPO_ROOT, load_settings
from core.ledger import History

CHECKOUT_HISTORY = REPO_ROOT / "data" / "history.sqlite"


def _checkout_runs_mentioning(text: str) -> int:
    """Runs in the checkout's own history (read-only; absent is none) whose parameters contain `text`."""
    if not CHECKOUT_HISTORY.exists():
        return 0
    with sqlite3.connect(f"{CHECKOUT_HISTORY.as_uri()}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT count(*) FROM runs WHERE params LIKE ?", (f"%{text}%",)).fetchone()[0]


def test_settings_point_at_this_tests_data_root(isolated_data_root: Path) -> None:
    settings = load_settings()
    assert settings.data_root == isolated_data_root.resolve()
    assert REPO_ROOT not in settings.data_root.parents
    assert settings.database_url == f"sqlite:///{isolated_data_root.resolve() / 'history.sqlite'}"


def test_a_cli_export_run_lands_in_the_test_history_not_the_checkouts(
        random_model: tuple[Path, Path], tmp_path: Path, isolated_data_root: Path) -> None:
    weights, labels = random_model
    output = tmp_path / "model.onnx"
    finished = subprocess.run(
        [sys.executable, "-m", "core", "export-onnx", "--weights", str(weights), "--labels", str(labels),
         "--output", str(output)],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr
    run_id = json.loads(finished.stdout)["run_id"]

    assert _checkout_runs_mentioning(str(output)) == 0
    with History.open(f"sqlite:///{isolated_data_root / 'history.sqlite'}") as history:
        run = history.detail(run_id).run
    assert run.kind == "export" and run.status == "succeeded" and run.params["output"] == str(output)
