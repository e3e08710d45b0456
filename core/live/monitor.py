"""What a Live page shows beside the video, kept once per shared pipeline: a 1 Hz history of rates and latency
(for the sparkline) and the detections of the last minute (for the per-class counts).

One observer thread per pipeline sees every result, so counts do not depend on how many viewers there are or how
often their pages refresh; everything is kept in bounded deques, so memory does not grow with running time. The
thread is supervised: an error is logged (rate-limited) and counted, and observing goes on a period later.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.live.pipeline import LivePipeline
from core.live.supervise import SupervisedThread

logger = logging.getLogger(__name__)

HISTORY_SECONDS = 300
TALLY_SECONDS = 60.0
_MAX_TALLY_ENTRIES = 60 * 120  # a minute at up to 120 results/s


@dataclass(frozen=True)
class HealthSample:
    """One point of the sparkline."""

    time: float  # wall clock, seconds since the epoch
    fps_in: float
    fps_processed: float
    latency_p50_ms: float | None
    state: str


class PipelineMonitor:
    """Observes one pipeline until it stops; `history()` and `class_counts()` are safe from any thread."""

    def __init__(self, pipeline: LivePipeline, *, period: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 on_exit: Callable[[PipelineMonitor], None] | None = None) -> None:
        self.pipeline = pipeline
        self.period = period
        self.clock, self.wall_clock = clock, wall_clock
        self._lock = threading.Lock()
        self._history: deque[HealthSample] = deque(maxlen=int(HISTORY_SECONDS / period))
        self._tally: deque[tuple[float, np.ndarray, np.ndarray]] = deque(maxlen=_MAX_TALLY_ENTRIES)
        self._sequence = 0  # the newest result seen, kept across restarts so none is counted twice
        self._on_exit = on_exit
        self._thread = SupervisedThread(self._run, name=f"live monitor {pipeline.source.uri[:30]}", logger=logger,
                                        retry_delay=period, on_exit=self._forget).start()

    def _run(self) -> None:
        next_sample = self.clock()
        while self.pipeline.running:
            result = self.pipeline.wait_result(self._sequence, timeout=self.period)
            now = self.clock()
            if result is not None:
                self._sequence = result.sequence
                if result.detections is not None:
                    with self._lock:
                        self._tally.append((now, result.detections.labels.copy(), result.detections.scores.copy()))
            if now >= next_sample:
                self.sample()
                next_sample = now + self.period

    def _forget(self, failure: str | None) -> None:
        if self._on_exit is not None:
            self._on_exit(self)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stats(self) -> dict[str, int]:
        """`thread_errors` and `restarts` of the observer thread."""
        return {"thread_errors": self._thread.errors, "restarts": self._thread.restarts}

    def sample(self) -> HealthSample:
        """Record the pipeline's rates and latency now (the observer does this once per period)."""
        stats = self.pipeline.stats()
        latency = stats.get("latency_ms") or {}
        sample = HealthSample(self.wall_clock(), float(stats["fps_in"]), float(stats["fps_processed"]),
                              latency.get("p50"), stats["source"]["state"])
        with self._lock:
            self._history.append(sample)
        return sample

    def history(self) -> list[HealthSample]:
        with self._lock:
            return list(self._history)

    def class_counts(self, *, min_score: float = 0.0, classes: frozenset[int] | None = None,
                     seconds: float = TALLY_SECONDS) -> dict[int, dict[str, float]]:
        """Per class id over the last `seconds`: detections, frames with at least one, and the best score; only
        detections scoring at least `min_score` (and of `classes`, if given) count."""
        since = self.clock() - seconds
        counts: dict[int, dict[str, float]] = {}
        with self._lock:
            while self._tally and self._tally[0][0] < self.clock() - TALLY_SECONDS:
                self._tally.popleft()
            entries = [entry for entry in self._tally if entry[0] >= since]
        for _, labels, scores in entries:
            keep = scores >= min_score
            if classes is not None:
                keep &= np.isin(labels, list(classes))
            for label in np.unique(labels[keep]):
                mine = keep & (labels == label)
                row = counts.setdefault(int(label), {"detections": 0, "frames": 0, "best_score": 0.0})
                row["detections"] += int(mine.sum())
                row["frames"] += 1
                row["best_score"] = max(row["best_score"], float(scores[mine].max()))
        return counts


class Monitors:
    """One monitor per running pipeline, started on first use; a monitor is forgotten when its pipeline stops."""

    def __init__(self) -> None:
        self._monitors: dict[int, PipelineMonitor] = {}  # by id(pipeline)
        self._lock = threading.Lock()

    def for_pipeline(self, pipeline: LivePipeline) -> PipelineMonitor:
        """The monitor of `pipeline`, started on first use; it ends with the pipeline and is forgotten then."""
        with self._lock:
            monitor = self._monitors.get(id(pipeline))
            if monitor is None or monitor.pipeline is not pipeline:
                # its thread forgets it under this lock, so only after this insert
                monitor = PipelineMonitor(pipeline, on_exit=self._forget)
                self._monitors[id(pipeline)] = monitor
            return monitor

    def _forget(self, monitor: PipelineMonitor) -> None:
        with self._lock:
            if self._monitors.get(id(monitor.pipeline)) is monitor:
                del self._monitors[id(monitor.pipeline)]
