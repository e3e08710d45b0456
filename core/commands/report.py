"""`python -m core report training`: the Markdown table of recorded training speed per device."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="Markdown reports from the run history")
    parser.add_argument("subject", choices=["training"], help="training: device | Images/sec | Time per epoch")
    parser.add_argument("--db-url", help="SQLAlchemy URL of the ledger (default: from the settings)")
    parser.add_argument("--limit", type=int, default=100, help="newest N training runs (default 100)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.reports import training_rows, training_table

    print(training_table(training_rows(args.db_url, limit=args.limit)))
    return 0
