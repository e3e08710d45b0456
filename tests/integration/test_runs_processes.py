"""The ledger under real processes: a job killed with SIGKILL mid-write, and two processes recording at once."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.ledger import prepare_ledger
from db import queries
from db.engine import make_engine, session_scope

REPO = Path(__file__).resolve().parents[2]

# Records one run and writes metrics as fast as it can until it is killed.
ENDLESS_JOB = """
import sys
from core.ledger import run_recorder
with run_recorder("train", {"epochs": 1000}, db_url=sys.argv[1]) as run:
    print(run.id, flush=True)
    step = 0
    while True:
        step += 1
        run.metric("loss", 1.0 / step, epoch=step)
"""

# Waits for the go file, then records `count` runs of 5 metrics each.
WRITER = """
import sys, time
from pathlib import Path
from core.ledger import run_recorder
url, label, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
for index in range(count):
    with run_recorder("benchmark", {"writer": label, "index": index}, db_url=url) as run:
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

    prepare_ledger(url)  # what the CLI and the app do on start
    engine = make_engine(url)
    with session_scope(engine) as session:
        run = queries.get_run(session, run_id=run_id)
        assert run.status == "interrupted" and run.finished_at is not None and "process ended" in run.error
        assert len(run.metrics) >= written
    engine.dispose()


@pytest.mark.timeout(180)
def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'history.sqlite'}"  # fresh: both also race to create the schema
    go, count = tmp_path / "go", 40
    writers = [_python(WRITER, url, label, str(count), str(go)) for label in ("a", "b")]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
    go.touch()
    for writer in writers:
        _, errors = writer.communicate(timeout=150)
        assert writer.returncode == 0, errors

    engine = make_engine(url)
    with session_scope(engine) as session:
        runs = queries.list_runs(session, limit=10 * count)
        assert len(runs) == 2 * count == queries.count_runs(session)
        assert all(run.status == "succeeded" and len(run.metrics) == 5 for run in runs)
        assert len({run.uuid for run in runs}) == 2 * count
        writers_in_order = [queries.get_run(session, run_id=run.id).params["writer"] for run in reversed(runs)]
    switches = sum(1 for before, after in zip(writers_in_order, writers_in_order[1:]) if before != after)
    assert switches > 1, "the two writers did not overlap, so this run tested nothing concurrent"
    engine.dispose()
