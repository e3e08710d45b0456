"""Benchmark: the Runs page with 10,000 runs in the history, in headless chromium, and its raw queries.

Fills a fresh SQLite ledger (runs of every kind, status, target and device, each with a few metrics) through the
ledger's import path, serves the dashboard on it with `streamlit run`, and measures in Debian's chromium:
- first paint: from navigation to the Runs page until its table and caption are shown (a fresh browser context
  each time; the first visit after the server starts is reported apart, as "cold");
- page change: from a click on the page stepper until the next page's rows are shown (each page is a new query).
Also times what the page asks the history (`core.ledger.History`), warm and repeated. Writes JSON with the machine's description
to benchmarks/results/ and records a `benchmark` run. Goals: first paint under 2 s, page change under 300 ms.

    python -m benchmarks.runs_pages [--runs 10000] [--metrics 5] [--loads 5] [--page-changes 10]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, start_streamlit
from benchmarks.common import save_results, time_call
from benchmarks.history_fill import fill
from core.ledger import History, RunFilters, RunKind
from core.timing.percentiles import percentiles

FIRST_PAINT_GOAL_S = 2.0
PAGE_CHANGE_GOAL_MS = 300.0
PAGE_SIZE = 50


def query_timings(history: History) -> dict[str, dict[str, float]]:
    """What one Runs page view asks the history, each timed warm and repeated."""
    def timed(call: Callable[[], object]) -> dict[str, float]:
        return time_call(call, min_seconds=1.0)

    return {
        "first_page": timed(lambda: history.page(limit=PAGE_SIZE, key_metrics=True)),
        "page_100": timed(lambda: history.page(offset=99 * PAGE_SIZE, limit=PAGE_SIZE, key_metrics=True)),
        "filtered_sorted": timed(lambda: history.page(
            RunFilters(kinds=(RunKind.OPTIMIZE,), target="ort-int8"), sort="device", limit=PAGE_SIZE)),
        "filter_options": timed(history.filter_options),
    }


def _robust(samples: list[float]) -> dict[str, float]:
    median, p95 = percentiles(samples, [50, 95])
    return {"median": median, "p95": p95, "max": max(samples), "repeats": len(samples)}


def browser_timings(url: str, *, runs: int, loads: int, page_changes: int) -> dict[str, Any]:
    """First paint of the Runs page (cold, then `loads` fresh contexts) and `page_changes` page changes, seconds."""
    from playwright.sync_api import sync_playwright

    caption = f"{runs} runs match; showing"

    titles: list[float] = []

    def first_paint(browser: Any) -> tuple[float, Any]:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        began = time.perf_counter()
        page.goto(f"{url}/runs", wait_until="commit")
        page.locator("h1").first.wait_for(timeout=60_000)  # the app shell has loaded and the page script started
        titles.append(time.perf_counter() - began)
        page.get_by_text(f"{caption} 1-{PAGE_SIZE}").wait_for(timeout=60_000)
        page.locator('[data-testid="stDataFrame"] canvas').first.wait_for(timeout=60_000)
        return time.perf_counter() - began, page

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        cold, page = first_paint(browser)
        page.context.close()
        warm = []
        for _ in range(loads):
            seconds, page = first_paint(browser)
            warm.append(seconds)
            page.context.close()
        _, page = first_paint(browser)
        stepper = page.locator('[data-testid="stNumberInputStepUp"]').last
        changes = []
        for number in range(2, page_changes + 2):
            began = time.perf_counter()
            stepper.click()
            shown = f"{caption} {(number - 1) * PAGE_SIZE + 1}-{number * PAGE_SIZE}"
            page.get_by_text(shown).wait_for(timeout=30_000)
            changes.append(time.perf_counter() - began)
        browser.close()
    return {"first_paint_cold_s": cold, "first_paint_s": _robust(warm), "title_shown_s": _robust(titles[1:-1]),
            "page_change_ms": _robust([seconds * 1000 for seconds in changes])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=5, help="key metrics per run")
    parser.add_argument("--loads", type=int, default=5, help="measured first paints (after the cold one)")
    parser.add_argument("--page-changes", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with History.open(f"sqlite:///{root / 'history.sqlite'}") as history:
            fill_s = fill(history, runs=args.runs, metrics=args.metrics)
            raw = query_timings(history)
        process, app_url = start_streamlit({"EDS_AUTH": "off"}, root)
        try:
            browser = browser_timings(app_url, runs=args.runs, loads=args.loads, page_changes=args.page_changes)
        finally:
            process.terminate()
            process.wait(timeout=20)
    meets = {"first_paint": browser["first_paint_s"]["median"] < FIRST_PAINT_GOAL_S,
             "page_change": browser["page_change_ms"]["median"] < PAGE_CHANGE_GOAL_MS}
    path = save_results("runs_pages", {
        "question": f"Runs page with {args.runs} runs x {args.metrics} metrics (SQLite, WAL) in headless chromium: "
                    f"first paint and page change ({PAGE_SIZE} rows a page); and its raw queries",
        "params": vars(args), "goals": {"first_paint_s": FIRST_PAINT_GOAL_S, "page_change_ms": PAGE_CHANGE_GOAL_MS},
        "fill_seconds": round(fill_s, 2), "queries_ms": raw, **browser, "meets_goal": meets,
    }, metrics={
        "first_paint_median_s": (browser["first_paint_s"]["median"], "s"),
        "first_paint_cold_s": (browser["first_paint_cold_s"], "s"),
        "page_change_median_ms": (browser["page_change_ms"]["median"], "ms"),
        "page_change_p95_ms": (browser["page_change_ms"]["p95"], "ms"),
        "first_page_query_median_ms": (raw["first_page"]["median_ms"], "ms"),
        "page_100_query_median_ms": (raw["page_100"]["median_ms"], "ms"),
    })
    print(f"{args.runs} runs: first paint median {browser['first_paint_s']['median']:.2f} s "
          f"(cold {browser['first_paint_cold_s']:.2f} s, title after {browser['title_shown_s']['median']:.2f} s, "
          f"goal < {FIRST_PAINT_GOAL_S} s); page change median "
          f"{browser['page_change_ms']['median']:.0f} ms, p95 {browser['page_change_ms']['p95']:.0f} ms "
          f"(goal < {PAGE_CHANGE_GOAL_MS:.0f} ms); queries: " + ", ".join(
              f"{name} {timing['median_ms']:.1f} ms" for name, timing in raw.items()) + f" -> {path}")
    return 0 if all(meets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
