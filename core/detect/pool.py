"""The one cache of loaded detectors: lent to one user at a time (a live pipeline, a Detect page's request) and kept
for a while after, so switching source or detecting the next image does not load the same model again (an ONNX
Runtime session takes seconds to build; a switch must show the new source at once).

A user owns and closes the detector it is lent; what it gets from the pool is a `LentDetector` whose `close()` (or
the end of its `with` block) hands the model back instead. A model handed back waits `keep_s` seconds for its next
user, then is closed. Each model serves one user at a time: a second one asking for the same key meanwhile gets a
model of its own.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable

from core.detect.base import Detector

logger = logging.getLogger(__name__)

KEEP_S = 60.0
MAX_KEPT = 2


class LentDetector:
    """A pooled detector as its pipeline sees it: everything is the model's, except `close()`, which returns it."""

    def __init__(self, pool: DetectorPool, key: Hashable, detector: Detector) -> None:
        self._pool, self._key, self.detector = pool, key, detector
        self._returned = False

    def __getattr__(self, name: str):
        return getattr(self.detector, name)

    def __enter__(self) -> LentDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._returned:
            self._returned = True
            self._pool.give_back(self._key, self.detector)


class DetectorPool:
    """Keeps at most `max_kept` idle detectors, each for `keep_s` seconds; thread-safe."""

    def __init__(self, *, keep_s: float = KEEP_S, max_kept: int = MAX_KEPT) -> None:
        self.keep_s, self.max_kept = keep_s, max_kept
        self._lock = threading.Lock()
        self._kept: list[tuple[Hashable, Detector, threading.Timer]] = []
        self.reused = 0

    def lend(self, key: Hashable, load: Callable[[], Detector]) -> LentDetector:
        """A detector for `key`: a kept one if there is one, else `load()` (called without the lock)."""
        with self._lock:
            index = next((position for position, kept in enumerate(self._kept) if kept[0] == key), None)
            kept = self._kept.pop(index) if index is not None else None
            if kept is not None:
                self.reused += 1
        if kept is not None:
            kept[2].cancel()
            return LentDetector(self, key, kept[1])
        return LentDetector(self, key, load())

    def give_back(self, key: Hashable, detector: Detector) -> None:
        """Keep `detector` for `keep_s` seconds; the oldest kept one is closed when more than `max_kept` wait."""
        timer = threading.Timer(self.keep_s, self._expire, args=(detector,))
        timer.daemon = True
        with self._lock:
            self._kept.append((key, detector, timer))
            evicted = self._kept[:-self.max_kept] if len(self._kept) > self.max_kept else []
            del self._kept[:len(evicted)]
        timer.start()
        for _, old, old_timer in evicted:
            old_timer.cancel()
            old.close()

    def kept(self) -> int:
        with self._lock:
            return len(self._kept)

    def close(self) -> None:
        """Close every kept detector now (the pool's owner is shutting down)."""
        with self._lock:
            kept, self._kept = self._kept, []
        for _, detector, timer in kept:
            timer.cancel()
            detector.close()

    def _expire(self, detector: Detector) -> None:
        with self._lock:
            index = next((position for position, kept in enumerate(self._kept) if kept[1] is detector), None)
            if index is None:
                return  # lent again meanwhile
            del self._kept[index]
        logger.debug("closing an idle detector (%s)", getattr(detector, "name", "?"))
        detector.close()
