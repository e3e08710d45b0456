"""The runs-listing benchmark on a small history: it writes its JSON (listing and report optimize) and records a
`benchmark` run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import benchmarks.common
from benchmarks import runs_listing
from core.ledger import History, RunFilters


@pytest.mark.timeout(120)
def test_benchmark_writes_results_and_records_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchmarks.common, "RESULTS_DIR", tmp_path / "results")
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert runs_listing.main(["--runs", "150", "--metrics", "4", "--ledger-url", ledger]) == 0
    [output] = (tmp_path / "results").glob("runs_listing-*.json")
    result = json.loads(output.read_text())
    assert result["metrics_shown"] == 400 and 0 < result["median_ms"] <= result["p95_ms"]
    assert result["machine"]["cpu"] and result["meets_goal"] is True
    report = result["report_optimize"]
    assert report["rows"] == 6 and 0 < report["median_ms"] <= report["p95_ms"]  # runs 122-147: every 5th, optimize
    with History.open(ledger) as history:
        [run] = history.page(RunFilters(kinds=("benchmark",)), key_metrics=True).rows
    assert run.status == "succeeded" and run.metrics["list_latest_median_ms"].value == result["median_ms"]
    assert run.metrics["report_optimize_median_ms"].value == report["median_ms"]
