"""`python -m core runs ...`: list, show, export and import the history of recorded runs."""
from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.commands.values import POSITIVE, output_file
from core.errors import UserError

if TYPE_CHECKING:
    from core.ledger import RunRow

KEY_METRICS_SHOWN = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("runs", help="history of recorded runs (list, show, export, import)",
                                   description="The run ledger; its database is EDS_DB_URL or a SQLite file in "
                                   "EDS_DATA_ROOT.")
    parser.add_argument("--db-url", help="SQLAlchemy URL of the ledger (default: from the settings)")
    actions = parser.add_subparsers(dest="runs_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="latest runs, newest first, with their key metrics")
    listing.add_argument("--kind", help="only runs of this kind (export, train, benchmark, ...)")
    listing.add_argument("--status", choices=["running", "succeeded", "failed", "interrupted"])
    listing.add_argument("--limit", type=POSITIVE, default=20, help="how many runs (default 20)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)

    show = actions.add_parser("show", help="one run with its parameters, environment, metrics and artifacts")
    show.add_argument("run", metavar="ID", help="run id, uuid, or a unique uuid prefix")
    show.set_defaults(func=run_show)

    export = actions.add_parser("export", help="write the history as CSV (spreadsheets) and/or JSONL (import)")
    export.add_argument("--csv", type=output_file, help="CSV output, one row per run")
    export.add_argument("--jsonl", type=output_file, help="JSONL output that `runs import` reads on another device")
    export.add_argument("--kind", help="only runs of this kind")
    export.set_defaults(func=run_export)

    importing = actions.add_parser("import", help="merge a JSONL export; runs already present are skipped")
    importing.add_argument("file", type=Path, help="JSONL file written by `runs export --jsonl`")
    importing.set_defaults(func=run_import)


def _time(value: datetime | None) -> str:
    return "" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _summary_dict(run: RunRow) -> dict[str, Any]:
    return {"id": run.id, "uuid": run.uuid, "kind": run.kind, "status": run.status,
            "started_at": run.started_at.isoformat(), "finished_at": run.finished_at and run.finished_at.isoformat(),
            "duration_s": run.duration_s, "host": run.host, "device": run.device, "parent_id": run.parent_id,
            "error": run.error,
            "metrics": {name: {"value": m.value, "unit": m.unit} for name, m in run.metrics.items()}}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def run_list(args: argparse.Namespace) -> int:
    from core.commands.history import open_history
    from core.ledger import RunFilters
    from core.ledger.display import duration_text, metric_text

    filters = RunFilters(kinds=(args.kind,) if args.kind else (), statuses=(args.status,) if args.status else (),
                         archived=None)
    with open_history(args) as history:
        runs = history.page(filters, limit=args.limit, key_metrics=True).rows
    if args.json:
        print(json.dumps([_summary_dict(run) for run in runs], indent=2))
        return 0
    if not runs:
        print("no runs recorded")
        return 0
    rows = [["ID", "KIND", "STATUS", "STARTED", "DURATION", "DEVICE", "KEY METRICS"]]
    for run in runs:
        metrics = ", ".join(f"{name}={metric_text(m.value, m.unit)}"
                            for name, m in list(run.metrics.items())[:KEY_METRICS_SHOWN])
        duration = "" if run.duration_s is None else duration_text(run.duration_s)
        rows.append([str(run.id), run.kind, run.status, _time(run.started_at), duration, run.device, metrics])
    print(_table(rows))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from core.commands.history import open_history
    from core.ledger.display import metric_text

    with open_history(args) as history:
        detail = history.find(args.run)
    if detail is None:
        raise UserError(f"no run {args.run!r} (give an id, a uuid or a unique uuid prefix)")
    run = detail.run
    print(f"run {run.id}  {run.uuid}\n"
          f"kind      {run.kind}\nstatus    {run.status}{'  (' + run.error + ')' if run.error else ''}\n"
          f"started   {_time(run.started_at)}\nfinished  {_time(run.finished_at)}\n"
          f"host      {run.host} (pid {run.pid})\ndevice    {run.device}\n"
          f"parent    {run.parent_id if run.parent_id is not None else '-'}\n"
          f"children  {', '.join(str(child.id) for child in detail.children) or '-'}")
    print("params    " + json.dumps(run.params, sort_keys=True))
    libraries = run.environment.get("libraries", {})
    print("libraries " + ", ".join(f"{name} {version}" for name, version in sorted(libraries.items())))
    if run.metrics:
        rows = [["METRIC", "VALUE", "EPOCH", "CLASS"]]
        rows += [[m.name, metric_text(m.value, m.unit), "" if m.epoch is None else str(m.epoch),
                  m.class_name or ""] for m in run.metrics]
        print("\n" + _table(rows))
    if run.artifacts:
        rows = [["ARTIFACT", "FORMAT", "PRECISION", "SIZE", "SHA256", "PATH"]]
        rows += [[a.kind, a.format or "", a.precision or "", metric_text(a.bytes, "B"), a.sha256[:12], a.path]
                 for a in run.artifacts]
        print("\n" + _table(rows))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from core.commands.history import open_history

    if args.csv is None and args.jsonl is None:
        raise UserError("give --csv OUT and/or --jsonl OUT")
    with open_history(args) as history:
        if args.csv is not None:
            print(f"wrote {history.export_csv(args.csv, kind=args.kind)} runs to {args.csv}")
        if args.jsonl is not None:
            print(f"wrote {history.export_jsonl(args.jsonl, kind=args.kind)} runs to {args.jsonl}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from core.commands.history import open_history

    if not args.file.is_file():
        raise UserError(f"{args.file} is not a file")
    with open_history(args) as history:
        result = history.import_jsonl(args.file)
    print(f"imported {result.added} runs, skipped {result.skipped} already present")
    return 0
