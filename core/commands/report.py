"""`python -m core report training|optimize`: Markdown tables of recorded training speed per device, and of the
optimization targets of one `optimize` invocation (the Compare page's table: core.optimize.comparison)."""
from __future__ import annotations

import argparse

from core.commands.values import POSITIVE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="Markdown reports from the run history")
    parser.add_argument("subject", choices=["training", "optimize"],
                        help="training: device | Images/sec | Time per epoch; optimize: the targets compared")
    parser.add_argument("--db-url", help="SQLAlchemy URL of the ledger (default: from the settings)")
    parser.add_argument("--limit", type=POSITIVE, default=100, help="newest N training runs (default 100)")
    parser.add_argument("--run", type=POSITIVE,
                        help="optimize: any run of the invocation to show (default: the newest)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.commands.history import open_history

    with open_history(args) as history:
        if args.subject == "optimize":
            from core.optimize.comparison import comparison_table, markdown_table, optimize_runs

            print(markdown_table(comparison_table(None, optimize_runs(history, run_id=args.run))))
            return 0
        from core.ledger.training_speed import training_table

        print(training_table(history.training_rows(limit=args.limit)))
    return 0
