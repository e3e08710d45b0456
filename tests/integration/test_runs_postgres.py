"""The ledger on PostgreSQL (a fleet of devices sharing one history), against a real server this test starts.

The server comes from the Debian packages (`apt-get install postgresql`); it runs as the `postgres` user when the
tests run as root, in a temporary folder, on a free 127.0.0.1 port. The README's test command installs it, so a
missing or unstartable server fails these tests (with the reason) rather than skipping them.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from core.ledger import History, RunFilters
from core.optimize.comparison import optimize_runs
from db.engine import make_engine
from db.migrate import current_revision, head_revision, upgrade_engine
from db.models import Base

pytestmark = pytest.mark.timeout(180)


def _server_binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda path: int(Path(path).parts[-3]))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unavailable(reason: str) -> None:
    pytest.fail(f"PostgreSQL is needed (scripts/setup.sh --dev installs it): {reason}")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A running server's base URL (no database name); stopped and deleted after the module."""
    initdb, pg_ctl = _server_binary("initdb"), _server_binary("pg_ctl")
    if not (initdb and pg_ctl):
        _unavailable("initdb/pg_ctl not found; install the Debian package postgresql")
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no postgres user to start the server as")
        os.chown(folder, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, text=True, timeout=90)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w",
                        "-t", "60", "start"], check=True, capture_output=True, text=True, timeout=90)
    except (OSError, subprocess.SubprocessError) as error:
        log = folder / "server.log"
        details = getattr(error, "stderr", "") or (log.read_text()[-500:] if log.exists() else "")
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"could not start a PostgreSQL server: {error} {details}".strip())
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        try:
            subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"],
                           capture_output=True, timeout=60)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(server: str) -> str:
    """A fresh, empty database on the test server."""
    name = f"ledger_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server}/{name}"


def _open_and_close(url: str) -> None:
    History.open(url).close()


def test_upgrade_from_empty_and_models_match_migrations(pg_url: str) -> None:
    _open_and_close(pg_url)
    engine = make_engine(pg_url)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_upgrade_from_previous_revision_keeps_data(pg_url: str) -> None:
    engine = make_engine(pg_url)
    upgrade_engine(engine, "0001_initial")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO runs (uuid, kind, status, started_at, params, device, host, environment) VALUES "
            "('u-1', 'export', 'succeeded', now(), '{}', 'cpu', 'h', '{}')"))
    upgrade_engine(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT uuid, pid FROM runs")).all() == [("u-1", None)]
        assert "ix_runs_started_at" in {index["name"] for index in inspect(connection).get_indexes("runs")}
    engine.dispose()


def test_concurrent_starts_migrate_once(pg_url: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(_open_and_close, [pg_url] * 4))
    engine = make_engine(pg_url)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
    engine.dispose()


def test_record_and_merge_a_device_history(pg_url: str, tmp_path: Path) -> None:
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"weights")
    fleet = History.open(pg_url)
    with fleet.record("train", {"lr": 0.01}) as train:
        train.metric("mAP", 0.5)
        train.metric("loss", 1.25, epoch=3)
        train.artifact(weights)
    with pytest.raises(RuntimeError):
        with fleet.record("benchmark", {}):
            raise RuntimeError("TensorRT missing")

    with History.open(f"sqlite:///{tmp_path / 'jetson.sqlite'}") as device:
        with device.record("export", {}) as export:
            export.artifact(weights, kind="input")
        exported = tmp_path / "jetson.jsonl"
        device.export_jsonl(exported)
    assert fleet.import_jsonl(exported).added == 1
    assert fleet.import_jsonl(exported).added == 0

    page = fleet.page(RunFilters(archived=None), key_metrics=True)
    runs = {run.kind: run for run in page.rows}
    assert set(runs) == {"train", "benchmark", "export"} and page.total == 3
    assert runs["train"].metrics["mAP"].value == 0.5 and runs["train"].started_at.tzinfo is not None
    assert runs["benchmark"].status == "failed" and runs["benchmark"].error == "RuntimeError: TensorRT missing"
    stored = fleet.detail(runs["train"].id).run
    assert [(m.name, m.epoch) for m in stored.metrics] == [("mAP", None), ("loss", 3)]
    assert stored.artifacts[0].bytes == 7
    for target in ("ort-fp32", "ort-int8"):
        with fleet.record("optimize", {"optimize_id": "invocation-1", "target": target}):
            pass
    assert [run.target for run in optimize_runs(fleet)] == ["ort-fp32", "ort-int8"]  # a JSON parameter in SQL
    fleet.close()
