"""Frames onto the device and resized there: pinned staging with parallel copies, and cv2's bilinear resize in torch.

`resize_with_taps` with each axis' `axis_taps` reproduces OpenCV's `INTER_LINEAR` for uint8 images (half-pixel
centres, 11-bit fixed-point weights, the same rounding), so frames resized on a GPU give the network the same pixels
as the CPU path: bit for bit when shrinking (640x480 to 300x300), and within one intensity level on under 1 % of
pixels when enlarging.
`PinnedStaging` copies a batch of frames into page-locked host memory with several threads, so the upload that
follows is an asynchronous DMA at full bus speed instead of a synchronous copy from pageable memory.
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import torch

COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS: weights are integers out of 2048
COEF_SCALE = 1 << COEF_BITS
ROWS_SHIFT = 4  # OpenCV drops 4 bits of the horizontal sums before the vertical pass (16-bit multiply-high)
COPY_THREADS = 12
FRAMES_PER_COPY_TASK = 16  # below this a batch is copied by the calling thread alone

Taps = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@lru_cache(maxsize=64)
def _axis_taps_cpu(source: int, target: int) -> Taps:
    """Per output position along one axis: the two source indices and their fixed-point weights, as OpenCV."""
    scale = source / target
    position = ((torch.arange(target, dtype=torch.float64) + 0.5) * scale - 0.5).to(torch.float32)
    first = torch.floor(position)
    fraction = position - first
    first = first.to(torch.int64)
    before = first < 0
    after = first >= source - 1
    fraction = torch.where(before | after, torch.zeros_like(fraction), fraction)
    first = first.clamp(0, source - 1)
    second = (first + 1).clamp(max=source - 1)
    weight_first = torch.round((1 - fraction) * COEF_SCALE).to(torch.int32)
    weight_second = torch.round(fraction * COEF_SCALE).to(torch.int32)
    return first, second, weight_first, weight_second


_device_taps: dict[tuple[int, int, str], Taps] = {}


def axis_taps(source: int, target: int, device: torch.device | str) -> Taps:
    """`_axis_taps_cpu` moved to `device` once and kept (these few kilobytes are reused by every batch)."""
    key = (source, target, str(device))
    if key not in _device_taps:
        _device_taps[key] = tuple(t.to(device) for t in _axis_taps_cpu(source, target))  # type: ignore[assignment]
    return _device_taps[key]


def resize_with_taps(frames: torch.Tensor, rows: Taps, columns: Taps) -> torch.Tensor:
    """(N,H,W,3) uint8 -> (N,h,w,3) uint8 with OpenCV's fixed-point bilinear arithmetic, given each axis' taps."""
    top, bottom, weight_top, weight_bottom = rows
    left, right, weight_left, weight_right = columns

    def horizontal(lines: torch.Tensor) -> torch.Tensor:
        return (lines[:, :, left].to(torch.int32) * weight_left[:, None]
                + lines[:, :, right].to(torch.int32) * weight_right[:, None]) >> ROWS_SHIFT

    upper, lower = horizontal(frames[:, top]), horizontal(frames[:, bottom])
    mixed = ((upper * weight_top[:, None, None]) >> 16) + ((lower * weight_bottom[:, None, None]) >> 16)
    return ((mixed + 2) >> 2).clamp(0, 255).to(torch.uint8)


class PinnedStaging:
    """A page-locked host buffer for up to `capacity` frames of one shape, filled by a pool of copy threads.

    numpy releases the GIL while it copies, so the threads really copy in parallel; 25k frames/s of 640x480 is
    23 GB/s, more than one core moves.
    """

    def __init__(self, capacity: int, height: int, width: int, pool: ThreadPoolExecutor | None) -> None:
        pinned = torch.cuda.is_available()  # page-locking needs the CUDA driver; without it the logic is the same
        self.buffer = torch.empty((capacity, height, width, 3), dtype=torch.uint8, pin_memory=pinned)
        self._array = self.buffer.numpy()
        self._pool = pool

    def _copy(self, frames: Sequence[np.ndarray], start: int, stop: int) -> None:
        for index in range(start, stop):
            np.copyto(self._array[index], frames[index], casting="no")

    def fill(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """Copy `frames` (all of the buffer's shape) in; returns the pinned (N,H,W,3) view holding them."""
        count = len(frames)
        if self._pool is None or count < 2 * FRAMES_PER_COPY_TASK:
            self._copy(frames, 0, count)
        else:
            step = max(FRAMES_PER_COPY_TASK, -(-count // COPY_THREADS))
            tasks = [self._pool.submit(self._copy, frames, start, min(count, start + step))
                     for start in range(0, count, step)]
            for task in tasks:
                task.result()
        return self.buffer[:count]
