"""Reading the frame counter the demo scene stamps into its pictures (core.stream.demo), so tests can tell which
frames arrived, in which order, after lossy encoding."""
from __future__ import annotations

import numpy as np

from core.stream.demo import COUNTER_BITS, COUNTER_BLOCK


def read_frame_counter(image: np.ndarray) -> int:
    """The counter `draw_demo_frame` stamped (modulo 2**16), read from the centres of its blocks."""
    top = image.shape[0] - 2 * COUNTER_BLOCK
    grey = image[top + 2:top + COUNTER_BLOCK - 2].mean(axis=(0, 2))
    value = 0
    for bit in range(COUNTER_BITS):
        left = 2 + bit * COUNTER_BLOCK
        if grey[left + 2:left + COUNTER_BLOCK - 2].mean() > 128:
            value |= 1 << bit
    return value
