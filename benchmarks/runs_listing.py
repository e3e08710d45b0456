"""Benchmark: the history's listing and `report optimize` with 10,000 runs x 20 metrics in it.

Fills a fresh SQLite history through the same import path a device history takes, then times, warm and repeated:
- the latest 100 runs with their key metrics (what the Runs page and `python -m core runs list` ask the history);
- `python -m core report optimize`'s work: opening the history (schema check, dead-process sweep), reading the
  newest optimize invocation and building its comparison table (the command's interpreter start-up is left out).
Writes JSON with the machine's description to benchmarks/results/ and records itself as a `benchmark` run.
Goals: listing median under 100 ms, report optimize under 1 s.

    python -m benchmarks.runs_listing [--runs 10000] [--metrics 20] [--limit 100]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import configured_history, save_results, time_call
from benchmarks.history_fill import fill
from core.ledger import History, RunFilters, RunKind
from core.optimize.comparison import comparison_table, markdown_table, optimize_runs

GOAL_MS = 100.0
REPORT_GOAL_MS = 1000.0


def report_optimize(url: str) -> str:
    """What `python -m core report optimize` does once its arguments are read."""
    with History.open(url) as history:
        return markdown_table(comparison_table(None, optimize_runs(history)))


def measure(url: str, *, runs: int, metrics: int, limit: int) -> dict[str, Any]:
    """Fill a fresh history at `url`, then time listing the latest `limit` runs with their key metrics and the
    optimize report."""
    with History.open(url) as history:
        fill_s = fill(history, runs=runs, metrics=metrics)
        shown: list[int] = []

        def list_latest() -> None:
            page = history.page(RunFilters(archived=None), limit=limit, key_metrics=True)
            shown.append(sum(len(run.metrics) for run in page.rows))

        timing = time_call(list_latest)
    report_rows: list[int] = []
    report = time_call(lambda: report_rows.append(len(report_optimize(url).splitlines()) - 2), min_seconds=1.0)
    return {"fill_seconds": round(fill_s, 2), "metrics_shown": shown[-1], **timing,
            "report_optimize": {**report, "rows": report_rows[-1]}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--ledger-url", help="where to record this benchmark run (default: the configured history)")
    args = parser.parse_args(argv)
    params = {"runs": args.runs, "metrics": args.metrics, "limit": args.limit}
    with configured_history(args.ledger_url) as ledger, ledger.record(
            RunKind.BENCHMARK, {"benchmark": "runs_listing", **params}) as run:
        with tempfile.TemporaryDirectory() as folder:
            result = measure(f"sqlite:///{Path(folder) / 'history.sqlite'}", **params)
        report = result["report_optimize"]
        result["meets_goal"] = result["median_ms"] < GOAL_MS
        report["meets_goal"] = report["median_ms"] < REPORT_GOAL_MS
        path = save_results("runs_listing", {
            "question": f"latest {args.limit} runs with their key metrics, and report optimize, of {args.runs} runs "
                        f"x {args.metrics} metrics, SQLite (WAL)",
            "params": params, "goal_ms": GOAL_MS, "report_goal_ms": REPORT_GOAL_MS, **result,
        })
        run.metric("list_latest_median_ms", result["median_ms"], unit="ms")
        run.metric("list_latest_p95_ms", result["p95_ms"], unit="ms")
        run.metric("report_optimize_median_ms", report["median_ms"], unit="ms")
        run.metric("fill_seconds", result["fill_seconds"], unit="s")
        run.artifact(path, kind="output", format="json")
    print(f"latest {args.limit} of {args.runs} runs x {args.metrics} metrics: median {result['median_ms']:.1f} ms, "
          f"p95 {result['p95_ms']:.1f} ms over {result['repeats']} repeats (goal < {GOAL_MS:.0f} ms); report optimize "
          f"({report['rows']} rows): median {report['median_ms']:.0f} ms, p95 {report['p95_ms']:.0f} ms "
          f"(goal < {REPORT_GOAL_MS:.0f} ms) -> {path}")
    return 0 if result["meets_goal"] and report["meets_goal"] else 1


if __name__ == "__main__":
    sys.exit(main())
