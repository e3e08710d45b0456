"""Benchmark: list the latest 100 runs with their key metrics from a ledger of 10,000 runs x 20 metrics.

Fills a fresh SQLite ledger through the same import path a device history takes, then times what the Runs page
and `python -m core runs list` do (one session, `db.queries.list_runs`), warm and repeated; writes JSON with the
machine's description to benchmarks/results/ and records itself as a `benchmark` run. Goal: median under 100 ms.

    python -m benchmarks.runs_listing [--runs 10000] [--metrics 20] [--limit 100]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import save_results, time_call
from benchmarks.history_fill import fill
from core.ledger import run_recorder
from db import queries
from db.engine import make_engine, session_scope

GOAL_MS = 100.0
def measure(url: str, *, runs: int, metrics: int, limit: int) -> dict[str, Any]:
    """Fill a fresh ledger at `url`, then time listing the latest `limit` runs with their key metrics."""
    fill_s = fill(url, runs=runs, metrics=metrics)
    engine = make_engine(url)
    try:
        shown: list[int] = []

        def list_latest() -> None:
            with session_scope(engine) as session:
                shown.append(sum(len(run.metrics) for run in queries.list_runs(session, limit=limit)))

        timing = time_call(list_latest)
    finally:
        engine.dispose()
    return {"fill_seconds": round(fill_s, 2), "metrics_shown": shown[-1], **timing}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--ledger-url", help="where to record this benchmark run (default: the configured ledger)")
    args = parser.parse_args(argv)
    params = {"runs": args.runs, "metrics": args.metrics, "limit": args.limit}
    with run_recorder("benchmark", {"benchmark": "runs_listing", **params}, db_url=args.ledger_url) as run:
        with tempfile.TemporaryDirectory() as folder:
            result = measure(f"sqlite:///{Path(folder) / 'history.sqlite'}", **params)
        result["meets_goal"] = result["median_ms"] < GOAL_MS
        path = save_results("runs_listing", {
            "question": f"latest {args.limit} runs with their key metrics, of {args.runs} runs x {args.metrics} "
                        "metrics, SQLite (WAL)",
            "params": params, "goal_ms": GOAL_MS, **result,
        })
        run.metric("list_latest_median_ms", result["median_ms"], unit="ms")
        run.metric("list_latest_p95_ms", result["p95_ms"], unit="ms")
        run.metric("fill_seconds", result["fill_seconds"], unit="s")
        run.artifact(path, kind="output", format="json")
    print(f"latest {args.limit} of {args.runs} runs x {args.metrics} metrics: median {result['median_ms']:.1f} ms, "
          f"p95 {result['p95_ms']:.1f} ms over {result['repeats']} repeats (goal < {GOAL_MS:.0f} ms) -> {path}")
    return 0 if result["meets_goal"] else 1


if __name__ == "__main__":
    sys.exit(main())
