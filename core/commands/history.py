"""The run history a command works on: its `--db-url` where it has one, else the settings' database URL, opened
once per command (schema upgraded, runs of dead processes marked interrupted) and handed to what records or reads."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.ledger import History


def open_history(args: argparse.Namespace) -> History:
    """The command's history; close it (or use it in a `with`) when the command is done."""
    from core.config import load_settings
    from core.ledger import History

    return History.open(getattr(args, "db_url", None) or load_settings().database_url)
