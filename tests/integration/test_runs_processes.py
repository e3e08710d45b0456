"""The ledger under real processes: a job killed with SIGKILL mid-write, processes racing to open a fresh history
and recording at once, and a history locked for longer than the busy timeout."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import cli
from core.ledger import History, RunFilters
from db import engine as engine_module

REPO = Path(__file__).resolve().parents[2]

# Records one run and writes metrics as fast as it can until it is killed.
ENDLESS_JOB = """
import sys
from core.ledger import History
with History.open(sys.argv[1]) as history, history.record("train", {"epochs": 1000}) as run:
    print(run.id, flush=True)
    step = 0
    while True:
        step += 1
        run.metric("loss", 1.0 / step, epoch=step)
"""

# Waits for the go file, then opens the history (racing the others to create it) and records `count` runs of 5
# metrics each. The machine description is captured once before the go (it costs CPU, not database time), so the
# writers spend their time contending for the file.
WRITER = """
import sys, time
from pathlib import Path
from core.ledger import History, recorder
url, label, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
environment = recorder.capture_environment()
recorder.capture_environment = lambda: environment
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
with History.open(url) as history:
    for index in range(count):
        with history.record("benchmark", {"writer": label, "index": index}) as run:
            for metric in range(5):
                run.metric(f"m{metric}", index + metric / 10, unit="ms")
"""


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.timeout(120)
def test_sigkill_mid_run_leaves_a_clean_db_and_the_run_is_marked_interrupted_on_next_start(tmp_path: Path) -> None:
    database = tmp_path / "history.sqlite"
    url = f"sqlite:///{database}"
    job = _python(ENDLESS_JOB, url)
    line = job.stdout.readline()
    assert line.strip().isdigit(), job.stderr.read()
    run_id = int(line)
    time.sleep(0.5)  # let it commit metrics in a tight loop, so the kill lands mid-write
    job.send_signal(signal.SIGKILL)
    assert job.wait(timeout=30) == -signal.SIGKILL
    job.stdout.close()
    job.stderr.close()

    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone() == ("running",)
        written = connection.execute("SELECT count(*) FROM metrics WHERE run_id = ?", (run_id,)).fetchone()[0]
    assert written > 0

    with History.open(url) as history:  # what the CLI and the app do on start
        run = history.detail(run_id).run
    assert run.status == "interrupted" and run.finished_at is not None and "process ended" in run.error
    assert len(run.metrics) >= written


def _run_writers(url: str, go: Path, labels: list[str], count: int) -> None:
    """Start one WRITER per label, release them together with the go file, and wait for all to succeed."""
    writers = [_python(WRITER, url, label, str(count), str(go)) for label in labels]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
    go.touch()
    for writer in writers:
        _, errors = writer.communicate(timeout=150)
        assert writer.returncode == 0, errors


def _writer_order(url: str, expected_runs: int) -> list[str]:
    """Check that every run and its 5 metrics are there; the writer label of each run, oldest first."""
    with History.open(url) as history:
        page = history.page(RunFilters(archived=None), limit=10 * expected_runs, key_metrics=True)
    runs = page.rows
    assert len(runs) == expected_runs == page.total
    assert all(run.status == "succeeded" and len(run.metrics) == 5 for run in runs)
    assert len({run.uuid for run in runs}) == expected_runs
    return [run.params["writer"] for run in reversed(runs)]


def _switches(order: list[str]) -> int:
    return sum(1 for before, after in zip(order, order[1:]) if before != after)


@pytest.mark.timeout(180)
def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'history.sqlite'}"  # fresh: both also race to create the schema
    count = 40
    _run_writers(url, tmp_path / "go", ["a", "b"], count)
    order = _writer_order(url, 2 * count)
    assert _switches(order) > 1, "the two writers did not overlap, so this run tested nothing concurrent"


@pytest.mark.timeout(240)
def test_four_processes_opening_fresh_histories_at_once_lose_nothing(tmp_path: Path) -> None:
    """Each round races 4 processes on a brand-new file: WAL switch, schema creation and 50 runs each."""
    labels, count, rounds = ["a", "b", "c", "d"], 50, 3
    for round_index in range(rounds):
        folder = tmp_path / f"round{round_index}"
        url = f"sqlite:///{folder / 'history.sqlite'}"
        _run_writers(url, tmp_path / f"go{round_index}", labels, count)
        order = _writer_order(url, len(labels) * count)
        assert all(order.count(label) == count for label in labels)
        assert _switches(order) > len(labels), "the writers did not overlap, so this round tested nothing concurrent"
        with sqlite3.connect(folder / "history.sqlite") as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_history_locked_past_the_timeout_is_a_one_line_error_in_the_cli(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "locked.sqlite"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("CREATE TABLE other_program (value)")
    holder.execute("BEGIN IMMEDIATE")  # rollback journal: the switch to WAL is refused at once, so it is retried
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 300)
    monkeypatch.setenv("EDS_DB_URL", f"sqlite:///{database}")
    try:
        assert cli.main(["runs", "list"]) == 2
    finally:
        holder.close()
    error = capsys.readouterr().err
    assert error.startswith("error: the run history stayed locked") and error.count("\n") == 1
