"""Percentiles of measured samples, one definition for every p50/p95/p99 the project reports (optimize metrics,
benchmarks, live stage timings, the receive report): linear interpolation between the closest ranks, numpy's
default, so a median of an even count is the mean of the middle two."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def percentiles(samples: Iterable[float] | np.ndarray, points: Sequence[float]) -> list[float]:
    """The `points` (0-100) percentiles of `samples`, which must not be empty."""
    values = np.fromiter(samples, np.float64) if not isinstance(samples, np.ndarray) else samples
    return [float(value) for value in np.percentile(values, points)]


def percentile(samples: Iterable[float] | np.ndarray, point: float) -> float:
    """The `point` (0-100) percentile of `samples`, which must not be empty."""
    (value,) = percentiles(samples, [point])
    return value
