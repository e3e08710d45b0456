"""Rolling statistics for live timings: the last N values of each named stage, summarized as mean, p50 and p95."""
from __future__ import annotations

from collections import deque

import numpy as np

from core.timing.percentiles import percentile


class RollingStats:
    """Keeps the most recent `window` samples per name (milliseconds, say)."""

    def __init__(self, window: int = 300) -> None:
        self.window = window
        self._values: dict[str, deque[float]] = {}

    def add(self, name: str, value: float) -> None:
        self._values.setdefault(name, deque(maxlen=self.window)).append(float(value))

    def add_all(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.add(name, value)

    def summary(self, name: str) -> dict[str, float] | None:
        values = self._values.get(name)
        if not values:
            return None
        array = np.fromiter(values, np.float64)
        return {"mean": round(float(array.mean()), 3), "p50": round(percentile(array, 50), 3),
                "p95": round(percentile(array, 95), 3), "count": int(array.size)}

    def summaries(self) -> dict[str, dict[str, float]]:
        return {name: summary for name in list(self._values) if (summary := self.summary(name)) is not None}
