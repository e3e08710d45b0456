"""The one percentile definition: linear interpolation between the closest ranks (numpy's default)."""
from __future__ import annotations

import numpy as np
import pytest

from core.timing.percentiles import percentile, percentiles


def test_linear_interpolation_between_closest_ranks():
    samples = [4.0, 1.0, 3.0, 2.0]  # order does not matter
    assert percentile(samples, 50) == 2.5  # the mean of the middle two
    assert percentile(samples, 95) == pytest.approx(3.85)  # 1 + 0.95 * 3 ranks: 3 + 0.85 * (4 - 3)
    assert percentiles(np.array(samples), [0, 100]) == [1.0, 4.0]
    assert percentile(iter([7.0]), 95) == 7.0  # any iterable; one sample is every percentile

