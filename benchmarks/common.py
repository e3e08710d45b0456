"""Shared benchmark plumbing: machine description, warm repeated timing with robust statistics, JSON output, and
the configured run history benchmarks record themselves in."""
from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from core.files.jsonio import write_json
from core.ledger.environment import capture_environment
from core.timing.percentiles import percentile

if TYPE_CHECKING:
    from core.ledger import History

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def configured_history(url: str | None = None) -> History:
    """The run history at `url`, else the settings' (EDS_DB_URL, or the data root's); close it when done."""
    from core.config import load_settings
    from core.ledger import History

    return History.open(url or load_settings().database_url)


def time_call(function: Callable[[], object], *, warmup: int = 3, min_seconds: float = 2.0,
              min_repeats: int = 10) -> dict:
    """Run `function` after `warmup` calls until both minimums are met; median, p95, mean in milliseconds."""
    for _ in range(warmup):
        function()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < min_repeats or time.perf_counter() - started < min_seconds:
        begin = time.perf_counter()
        function()
        samples.append((time.perf_counter() - begin) * 1000)
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": percentile(samples, 95),
        "mean_ms": statistics.fmean(samples),
        "repeats": len(samples),
    }


Metrics = dict[str, tuple[float, str | None]]  # name -> (value, unit)


def save_results(name: str, payload: dict, metrics: Metrics | None = None) -> Path:
    """Write the JSON result; with `metrics`, also record a `benchmark` run holding them and the JSON file."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = write_json({"benchmark": name, "machine": capture_environment(), **payload},
                      RESULTS_DIR / f"{name}-{stamp}.json")
    if metrics:
        from core.ledger import RunKind

        with configured_history() as history, history.record(RunKind.BENCHMARK, {"benchmark": name}) as run:
            for metric, (value, unit) in metrics.items():
                run.metric(metric, value, unit=unit)
            run.artifact(path, kind="output", format="json")
    return path


def publish_results(name: str, results: dict, metrics: Metrics | None = None, json_out: Path | None = None) -> Path:
    """`save_results`, a copy at `json_out` if given, the results printed as JSON and the file's path on stderr."""
    path = save_results(name, results, metrics)
    if json_out is not None:
        json_out.write_text(path.read_text())
    print(json.dumps(results, indent=2))
    print(f"written to {path}", file=sys.stderr)
    return path


def save_rows_result(name: str, result: dict, json_out: Path | None = None) -> Path:
    """Save a result made of judged rows (scenario, target, ours, median, unit, verdict): JSON, a `benchmark` run of
    the measured medians, a copy at `json_out`; print the rows as Markdown and the JSON's path."""
    metrics = {row["scenario"]: (row["median"], row["unit"]) for row in result["rows"]
               if isinstance(row["median"], float)}
    path = save_results(name, result, metrics)
    if json_out:
        json_out.write_text(path.read_text())
    for row in result["rows"]:
        print(f"| {row['scenario']} | {row['target']} | {row['ours']} | {row['verdict']} |")
    print(json.dumps({"json": str(path)}))
    return path
