"""The benchmark suite: every scenario of the performance issue this machine can run, judged against its target.

Scenarios (each warmed up, run for a minimum time, median and p95):
1. `cpu_detect`: one 640x480 frame -> boxes on the CPU, 2 threads, per backend/precision, and pytorch-ssd's own
   predictor in the same run (benchmarks.cpu_detect, benchmarks.peer);
2. `live`: the live pipeline fed by a real H.265 sender on loopback, 640x480@30 and 1280x720@30 (benchmarks.live_pipeline;
   FFmpeg replays a clip encoded ahead, as a Jetson's hardware encoder costs this machine nothing);
3. `gpu_detect`, 4. `gpu_train`: one GPU (benchmarks.gpu_detect / benchmarks.gpu_train, where there is a CUDA GPU);
5. `viewers`: app CPU with 5 browser viewers against 1, with one filter and with 5 thresholds, and the fps each
   shows (benchmarks.live_viewers, in its own process);
6. `history`: the Runs page and the ledger's queries with 10,000 runs (benchmarks.runs_pages, benchmarks.runs_listing);
7. `wall`: the Wall page with 4 RTP cameras detected with the INT8 model: fps shown and latency of each tile
   (benchmarks.live_wall, in its own process).

A scenario that cannot run here is a row saying why; one that fails is a row with its error, and the suite goes on.
Each scenario that runs is recorded as a `benchmark` run with its figures as metrics. The result is one JSON file
(machine description, every scenario's details, the judged rows) and a Markdown table; `render_readme_block` turns
one or more such files into the README's performance table.

A row is a dict: scenario, name, target (text), value, unit, verdict ("met", "missed", "measured", "skipped: ...",
"error: ..."), and optionally peer (pytorch-ssd's figure, same unit), ratio (peer / ours for times: how many times
faster we are), ours_text and metric (the name recorded in the run); `judged` builds one. The GPU modules' entry is
`run(options) -> {"rows", "details"}` with rows of their own shape, turned into these by `gpu_rows`.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, configured_history

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parent.parent
README_START, README_END = "<!-- performance:start -->", "<!-- performance:end -->"

Row = dict[str, Any]


def judged(scenario: str, name: str, value: float | None, unit: str, *, at_most: float | None = None,
           at_least: float | None = None, target: str | None = None, peer: float | None = None,
           metric: str | None = None, extra_goal: tuple[str, bool] | None = None) -> Row:
    """One table row: `value` against its bound (and `extra_goal`, a (text, met) pair such as a ratio to the peer)."""
    bound = (f"≤ {at_most:g} {unit}" if at_most is not None else
             f"≥ {at_least:g} {unit}" if at_least is not None else "")
    target = target or " and ".join(part for part in (bound, extra_goal[0] if extra_goal else "") if part) or "–"
    met = value is not None and (at_most is None or value <= at_most) and (at_least is None or value >= at_least)
    met = met and (extra_goal is None or extra_goal[1])
    row: Row = {"scenario": scenario, "name": name, "target": target, "value": value, "unit": unit,
                "verdict": "met" if met else "missed", "metric": metric}
    if peer is not None:
        row["peer"] = peer
        if value:
            row["ratio"] = peer / value if unit == "ms" else value / peer
    return row


def not_run(scenario: str, name: str, target: str, reason: str) -> Row:
    return {"scenario": scenario, "name": name, "target": target, "value": None, "unit": "", "verdict": reason}


# -- scenario 1 ---------------------------------------------------------------------------------------------------
CPU_TARGETS_MS = {("onnxruntime", "int8"): 6.0, ("onnxruntime", "fp32"): 13.0, ("torch", "fp32"): 30.0}
INT8_PEER_RATIO = 7.0
DECODE_NMS_TARGET_MS = 0.5
CPU_SCENARIO = "1. CPU detect"


def run_cpu_detect(args: argparse.Namespace) -> tuple[dict, list[Row]]:
    from benchmarks.cpu_detect import measure

    details = measure(min_seconds=args.detect_seconds, threads=2, peer=not args.no_peer)
    peer = details.get("peer", {}).get("median_ms")
    rows = []
    for config in details["configurations"]:
        key = (config["backend"], config["precision"])
        name = f"{config['backend']} {config['precision'].upper()}, 640x480 → boxes, 2 threads"
        if "error" in config:
            rows.append(not_run(CPU_SCENARIO, name, f"≤ {CPU_TARGETS_MS[key]:g} ms", f"error: {config['error']}"))
            continue
        extra = None
        if key == ("onnxruntime", "int8"):
            fast_enough = peer is not None and peer / config["median_ms"] >= INT8_PEER_RATIO
            extra = (f"≥ {INT8_PEER_RATIO:g}× pytorch-ssd", fast_enough)
        rows.append(judged(CPU_SCENARIO, f"{name} (median; p95 {config['p95_ms']:.1f} ms)", config["median_ms"], "ms",
                           at_most=CPU_TARGETS_MS[key], peer=peer, extra_goal=extra,
                           metric=f"{config['backend']}_{config['precision']}_median_ms"))
    decode = [c["stages_ms"]["decode_nms"] for c in details["configurations"] if c.get("stages_ms")]
    if decode:
        rows.append(judged(CPU_SCENARIO, "decode + NMS (slowest backend)", max(decode), "ms",
                           at_most=DECODE_NMS_TARGET_MS, metric="decode_nms_ms"))
    if "error" in details.get("peer", {}):
        rows.append(not_run(CPU_SCENARIO, "pytorch-ssd predictor", "–", f"skipped: {details['peer']['error']}"))
    return details, rows


# -- scenario 2 ---------------------------------------------------------------------------------------------------
LIVE_SCENARIO = "2. Live pipeline"


def run_live(args: argparse.Namespace) -> tuple[dict, list[Row]]:
    from benchmarks.cpu_detect import DEMO_LABELS, ensure_int8_model
    from benchmarks.live_pipeline import measure
    from core.detect import DetectorSpec

    spec = DetectorSpec(ensure_int8_model(), DEMO_LABELS, backend="onnxruntime", device="cpu", threads=2)
    small = measure(spec, width=640, height=480, seconds=args.live_seconds, window=min(60.0, args.live_seconds))
    large = measure(spec, width=1280, height=720, seconds=args.live_720_seconds,
                    window=min(60.0, args.live_720_seconds))
    span = f"{args.live_seconds:g} s"
    window_p95 = [w["latency_ms"].get("p95", float("inf")) for w in small["windows"]]
    rows = [
        judged(LIVE_SCENARIO, f"H.265 640x480@30 on loopback (FFmpeg RTP sender), detection (ORT INT8) on every "
               f"frame: processed fps ({span})", small["fps_processed"], "fps", at_least=29.0, metric="live_640x480_fps_processed"),
        judged(LIVE_SCENARIO, f"640x480@30 first packet → annotated frame, p95 ({span})",
               small["latency_ms"].get("p95"), "ms", at_most=60.0, metric="live_640x480_latency_p95_ms"),
        judged(LIVE_SCENARIO, f"640x480@30 flat: worst p95 of {len(window_p95)} window(s) of "
               f"{min(60.0, args.live_seconds):g} s", max(window_p95, default=None), "ms", at_most=60.0,
               target="≤ 60 ms in every minute of 5 minutes" if args.live_seconds >= 300 else
               f"≤ 60 ms in every window (5 minutes with --full; this run {span})",
               metric="live_640x480_worst_window_p95_ms"),
        judged(LIVE_SCENARIO, f"1280x720@30 processed fps ({args.live_720_seconds:g} s)", large["fps_processed"], "fps",
               at_least=25.0, metric="live_1280x720_fps_processed"),
    ]
    return {"640x480": small, "1280x720": large}, rows


# -- scenarios 3 and 4 --------------------------------------------------------------------------------------------
def gpu_rows(title: str, rows: Sequence[dict]) -> list[Row]:
    """The GPU modules' rows (scenario, target, ours as text, median, unit, verdict) in the suite's shape."""
    return [{"scenario": title, "name": row["scenario"], "target": row["target"], "value": row.get("median"),
             "unit": row.get("unit") or "", "ours_text": row.get("ours"), "verdict": row["verdict"],
             "metric": re.sub(r"\W+", "_", row["scenario"]).strip("_").lower() if row.get("median") is not None
             else None} for row in rows]


def _gpu_scenario(module_name: str, title: str) -> Callable[[argparse.Namespace], tuple[dict, list[Row]]]:
    def run(args: argparse.Namespace) -> tuple[dict, list[Row]]:
        result = importlib.import_module(module_name).run({})
        return result.get("details", {}), gpu_rows(title, result["rows"])

    return run


def _gpu_skipped(module_name: str, title: str) -> Callable[[], list[Row] | None]:
    """Without a CUDA GPU, the module's own rows saying so (None: the scenario runs)."""
    def rows() -> list[Row] | None:
        import torch

        if torch.cuda.is_available():
            return None
        return gpu_rows(title, importlib.import_module(module_name).skipped_rows("no CUDA GPU"))

    return rows


# -- scenarios 5, 6 and 7: benchmarks with their own process and JSON -------------------------------------------
VIEWERS_SCENARIO = "5. Viewers"
HISTORY_SCENARIO = "6. History"
VIEWER_CPU_RATIO = 1.2
VIEWER_MIN_FPS = 25.0
WALL_SCENARIO = "7. Wall"


def run_module(name: str, argv: Sequence[str], timeout: float) -> dict:
    """Run `python -m benchmarks.<name> ARGV` and return the JSON result it wrote (the newest since it started)."""
    started = time.time()
    done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *argv], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)
    written = [path for path in RESULTS_DIR.glob(f"{name}-*.json") if path.stat().st_mtime >= started]
    if not written:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"benchmarks.{name} exited {done.returncode} without a result: {last[:300]}")
    return json.loads(max(written, key=lambda path: path.stat().st_mtime).read_text())


def run_viewers(args: argparse.Namespace) -> tuple[dict, list[Row]]:
    details = run_module("live_viewers", ["--seconds", f"{args.viewer_seconds:g}", "--viewers", "5"], timeout=600)
    one, same, own = details["rows"]
    rows = []
    for phase, label, metric in ((same, "5 viewers", "viewers_cpu_ratio"),
                                 (own, "5 viewers with 5 thresholds", "viewers_cpu_ratio_own_thresholds")):
        ratio = phase["app_cpu_percent"] / one["app_cpu_percent"] if one["app_cpu_percent"] else None
        rows.append(judged(VIEWERS_SCENARIO, f"app CPU with {label} ÷ with 1 ({phase['app_cpu_percent']} % vs "
                           f"{one['app_cpu_percent']} % of a core; load average {phase['load_average_1min']})",
                           ratio, "×", at_most=VIEWER_CPU_RATIO, metric=metric))
    shown = min(same["fps_shown"] + own["fps_shown"])
    rows.append(judged(VIEWERS_SCENARIO, "fps shown by the slowest of 5 viewers (640x480@30)", shown, "fps",
                       at_least=VIEWER_MIN_FPS, metric="viewers_min_fps_shown"))
    return details, rows


def run_wall(args: argparse.Namespace) -> tuple[dict, list[Row]]:
    details = run_module("live_wall", ["--seconds", f"{args.viewer_seconds:g}", "--streams", "4"], timeout=900)
    goals, load = details["goals"], details["load_average_1min"]["after"]
    return details, [
        judged(WALL_SCENARIO, f"4 RTP cameras on the Wall page, ORT INT8: fps shown by the slowest tile (load average "
               f"{load})", details["worst_fps_shown"], "fps", at_least=goals["min_fps_shown"],
               metric="wall_worst_fps_shown"),
        judged(WALL_SCENARIO, "4 RTP cameras on the Wall page: glass-to-browser latency p95 of the slowest tile",
               details["worst_p95_ms"], "ms", at_most=goals["max_p95_ms"], metric="wall_worst_p95_ms"),
    ]


def run_history(args: argparse.Namespace) -> tuple[dict, list[Row]]:
    pages = run_module("runs_pages", ["--runs", str(args.history_runs)], timeout=900)
    listing = run_module("runs_listing", ["--runs", str(args.history_runs)], timeout=900)
    goals = pages["goals"]
    rows = [
        judged(HISTORY_SCENARIO, f"Runs page first paint, {args.history_runs:,} runs (median, chromium)",
               pages["first_paint_s"]["median"], "s", at_most=goals["first_paint_s"], metric="runs_page_first_paint_s"),
        judged(HISTORY_SCENARIO, "Runs page change (median)", pages["page_change_ms"]["median"], "ms",
               at_most=goals["page_change_ms"], metric="runs_page_change_ms"),
        judged(HISTORY_SCENARIO, f"ledger query: latest 100 of {args.history_runs:,} runs with metrics (median)",
               listing["median_ms"], "ms", at_most=listing["goal_ms"], metric="runs_listing_median_ms"),
    ]
    return {"runs_pages": pages, "runs_listing": listing}, rows


# -- the suite ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    title: str
    run: Callable[[argparse.Namespace], tuple[dict, list[Row]]]
    targets: str  # shown when the scenario fails
    skipped: Callable[[], list[Row] | None] = lambda: None  # rows saying why it cannot run here (None: it can)


SCENARIOS: dict[str, Scenario] = {
    "cpu_detect": Scenario(CPU_SCENARIO, run_cpu_detect, "INT8 ≤ 6 ms, FP32 ≤ 13 ms, torch ≤ 30 ms"),
    "live": Scenario(LIVE_SCENARIO, run_live, "≥ 29 fps, p95 ≤ 60 ms; 720p ≥ 25 fps"),
    "gpu_detect": Scenario("3. GPU detect", _gpu_scenario("benchmarks.gpu_detect", "3. GPU detect"),
                           "≥ 25,000 img/s; batch 1 ≤ 1 ms; first call ≤ 200 ms",
                           _gpu_skipped("benchmarks.gpu_detect", "3. GPU detect")),
    "gpu_train": Scenario("4. GPU training", _gpu_scenario("benchmarks.gpu_train", "4. GPU training"),
                          "≥ 1,000 img/s at batch 64; first step ≤ 2 s",
                          _gpu_skipped("benchmarks.gpu_train", "4. GPU training")),
    "viewers": Scenario(VIEWERS_SCENARIO, run_viewers, "5 viewers (same or own thresholds) ≤ 1.2× the app CPU of 1, "
                        "each ≥ 25 fps shown"),
    "history": Scenario(HISTORY_SCENARIO, run_history, "first paint ≤ 2 s, page change ≤ 300 ms, query ≤ 100 ms"),
    "wall": Scenario(WALL_SCENARIO, run_wall, "4 tiles each ≥ 10 fps shown, p95 ≤ 200 ms"),
}


def run_scenario(key: str, args: argparse.Namespace) -> dict:
    """One scenario as a recorded `benchmark` run: its details and rows, or a row saying why it did not run."""
    from core.ledger import RunKind

    scenario = SCENARIOS[key]
    skipped = scenario.skipped()
    if skipped is not None:
        return {"key": key, "rows": skipped}
    started = time.monotonic()
    try:
        with configured_history() as history, history.record(RunKind.BENCHMARK,
                                                             {"benchmark": f"suite/{key}"}) as recorded:
            details, rows = scenario.run(args)
            for row in rows:
                if row.get("metric") and row.get("value") is not None:
                    recorded.metric(row["metric"], row["value"], unit=row["unit"])
        return {"key": key, "run_id": recorded.id, "seconds": round(time.monotonic() - started, 1),
                "details": details, "rows": rows}
    except Exception as error:  # a failing scenario is a row with its error; the others still run
        log.exception("scenario %s failed", key)
        message = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
        return {"key": key, "seconds": round(time.monotonic() - started, 1),
                "rows": [not_run(scenario.title, "", scenario.targets, f"error: {message}")]}


def run_suite(args: argparse.Namespace) -> dict:
    from core.ledger.environment import capture_environment

    started, load_before = time.monotonic(), os.getloadavg()
    chosen = [key for key in SCENARIOS if key in args.only] if args.only else list(SCENARIOS)
    scenarios = []
    for key in chosen:
        log.warning("scenario %s ...", key)
        scenarios.append(run_scenario(key, args))
    return {"benchmark": "suite", "machine": capture_environment(), "finished_at": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(time.monotonic() - started, 1),
            "load_average": {"before": [round(value, 2) for value in load_before],
                             "after": [round(value, 2) for value in os.getloadavg()]},
            "options": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()
                        if key not in ("update_readme", "readme", "output")}, "scenarios": scenarios}


# -- output -------------------------------------------------------------------------------------------------------
def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f} {unit}".strip()


def markdown_table(results: Sequence[dict]) -> str:
    """scenario | target | ours | pytorch-ssd | ratio | verdict, one line per row of every result given."""
    lines = ["| scenario | target | ours | pytorch-ssd | ratio | verdict |", "|---|---|---:|---:|---:|---|"]
    for result in results:
        for scenario in result["scenarios"]:
            for row in scenario["rows"]:
                ratio = f"{row['ratio']:.1f}×" if row.get("ratio") else "–"
                peer = _number(row.get("peer"), row["unit"]) if row.get("peer") is not None else "–"
                label = f"{row['scenario']}: {row['name']}" if row["name"] else row["scenario"]
                ours = row.get("ours_text") or _number(row["value"], row["unit"])
                lines.append(f"| {label} | {row['target']} | {ours} | {peer} | {ratio} | {row['verdict']} |")
    return "\n".join(lines)


def describe_machine(result: dict) -> str:
    machine = result["machine"]
    gpus = ", ".join(str(gpu.get("name", gpu)) if isinstance(gpu, dict) else str(gpu) for gpu in machine["gpus"] or [])
    load = result.get("load_average")
    shared = f", 1-minute load average {load['before'][0]:.1f} at the start" if load else ""
    timing = (f"; {result['finished_at'][:10]}, whole suite {result['seconds'] / 60:.1f} min"
              if "finished_at" in result else f" (`python -m benchmarks.{result['benchmark']}` alone)")
    return (f"{machine['cpu']} ({machine['cpu_count']} cores{'; ' + gpus if gpus else ''}), torch "
            f"{machine['libraries'].get('torch')}, onnxruntime {machine['libraries'].get('onnxruntime')}"
            f"{timing}{shared}")


def _shown(path: Path) -> str:
    """`path` relative to the checkout where it is inside it (a README names no machine's folders)."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.name


def as_suite_result(result: dict) -> dict:
    """A suite result as it is; a GPU module's own JSON (run alone on the GPU machine) in the suite's shape."""
    if "scenarios" in result:
        return result
    title = SCENARIOS[result["benchmark"]].title
    return {**result, "scenarios": [{"key": result["benchmark"], "rows": gpu_rows(title, result["rows"])}]}


def without_superseded_rows(results: Sequence[dict]) -> list[dict]:
    """Drop a scenario's "skipped" or "error" rows where another result measured that scenario (the GPU machine's
    JSON beside the CPU suite's, or a scenario run again alone)."""
    def measured(scenario: dict) -> bool:
        return any(not str(row["verdict"]).startswith(("skipped", "error")) for row in scenario["rows"])

    keys = {scenario["key"] for result in results for scenario in result["scenarios"] if measured(scenario)}
    return [{**result, "scenarios": [scenario for scenario in result["scenarios"]
                                     if measured(scenario) or scenario["key"] not in keys]} for result in results]


def render_readme_block(paths: Sequence[Path]) -> str:
    results = without_superseded_rows([as_suite_result(json.loads(Path(path).read_text())) for path in paths])
    sources = "; ".join(f"`{_shown(Path(path))}`: {describe_machine(result)}" for path, result in zip(paths, results))
    return (f"{README_START}\nMeasured by `python -m benchmarks` (targets from the performance issue; ratio = how many "
            f"times faster than pytorch-ssd's own predictor in the same run). {sources}.\n\n"
            f"{markdown_table(results)}\n{README_END}")


def update_readme(readme: Path, paths: Sequence[Path]) -> None:
    """Replace the block between the performance markers of `readme` with the table of `paths`."""
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{readme} has no {README_START} ... {README_END} block")
    readme.write_text(pattern.sub(lambda _: render_readme_block(paths), text, count=1))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="run only these scenarios")
    parser.add_argument("--full", action="store_true", help="the live 640x480 run for the full 5 minutes")
    parser.add_argument("--detect-seconds", type=float, default=10.0, help="minimum timed seconds per CPU config")
    parser.add_argument("--live-seconds", type=float, help="live 640x480 run (default 120; 300 with --full)")
    parser.add_argument("--live-720-seconds", type=float, default=30.0, help="live 1280x720 run (default 30)")
    parser.add_argument("--viewer-seconds", type=float, default=10.0, help="per viewer count (default 10)")
    parser.add_argument("--history-runs", type=int, default=10_000)
    parser.add_argument("--no-peer", action="store_true", help="do not run pytorch-ssd's predictor")
    parser.add_argument("--output", type=Path, help="write the JSON here (default: benchmarks/results/suite-*.json)")
    parser.add_argument("--update-readme", nargs="+", type=Path, metavar="FILE.json",
                        help="only regenerate the README's performance table from these suite results")
    parser.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md")
    args = parser.parse_args(argv)
    if args.live_seconds is None:
        args.live_seconds = 300.0 if args.full else 120.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from core.files.jsonio import write_json

    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.update_readme:
        update_readme(args.readme, args.update_readme)
        print(f"updated the performance table of {args.readme}")
        return 0
    result = run_suite(args)
    path = write_json(result, args.output or RESULTS_DIR / f"suite-{time.strftime('%Y%m%d-%H%M%S')}.json")
    print(markdown_table([result]))
    print(f"\n{describe_machine(result)}; written to {path}")
    return 0
