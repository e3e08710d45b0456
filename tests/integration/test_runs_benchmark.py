"""The runs-listing benchmark on a small ledger: it writes its JSON and records a `benchmark` run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import benchmarks.common
from benchmarks import runs_listing
from db import queries
from db.engine import make_engine, session_scope


@pytest.mark.timeout(120)
def test_benchmark_writes_results_and_records_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchmarks.common, "RESULTS_DIR", tmp_path / "results")
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert runs_listing.main(["--runs", "150", "--metrics", "4", "--ledger-url", ledger]) == 0
    [output] = (tmp_path / "results").glob("runs_listing-*.json")
    result = json.loads(output.read_text())
    assert result["metrics_shown"] == 400 and 0 < result["median_ms"] <= result["p95_ms"]
    assert result["machine"]["cpu"] and result["meets_goal"] is True
    engine = make_engine(ledger)
    with session_scope(engine) as session:
        [run] = queries.list_runs(session, kind="benchmark")
        assert run.status == "succeeded" and run.metrics["list_latest_median_ms"].value == result["median_ms"]
    engine.dispose()
