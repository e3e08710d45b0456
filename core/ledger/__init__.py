"""The run ledger's core side: record long jobs (`run_recorder`), prepare the database on start, move histories
between databases. All SQL lives in the `db` package.
"""
from __future__ import annotations

from core.ledger.recorder import (
    RecordedArtifact,
    RecordedRun,
    ensure_ledger,
    ledger_url,
    prepare_ledger,
    run_recorder,
)

__all__ = ["RecordedArtifact", "RecordedRun", "ensure_ledger", "ledger_url", "prepare_ledger", "run_recorder"]
