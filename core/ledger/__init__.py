"""The run history (ledger): `History` is its one door for recording, listing, comparing, reporting, importing and
exporting runs; `RunKind` names the kinds of run. All SQL lives in the `db` package, which nothing else uses.
"""
from __future__ import annotations

from core.ledger.history import History
from core.ledger.kinds import COMPARED_KINDS, RunKind
from core.ledger.recorder import RecordedArtifact, RecordedRun
from db.queries import (
    INVOCATION_PARAM,
    SORT_COLUMNS,
    FilterOptions,
    ImportResult,
    KeyMetric,
    LineageItem,
    MetricRow,
    RunDetail,
    RunFilters,
    RunPage,
    RunRow,
)

SORT_KEYS = tuple(SORT_COLUMNS)  # what the listing can be sorted by

__all__ = ["COMPARED_KINDS", "INVOCATION_PARAM", "SORT_KEYS", "FilterOptions", "History", "ImportResult", "KeyMetric",
           "LineageItem", "MetricRow", "RecordedArtifact", "RecordedRun", "RunDetail", "RunFilters", "RunKind", "RunPage", "RunRow"]
