"""LivePipeline: source thread -> newest frame -> detector thread -> newest result (the frame, its detections and
the stage timings) that every viewer reads. The pipeline never draws: each viewer draws its own view (boxes over
the video in the browser, or `core.live.viewer.render_view` for an image).

Latest-frame-wins at every hand-over: the source keeps only its newest decoded frame, the detector thread takes
the newest frame when it is free (older ones are counted as skipped), and viewers read the newest result. So when
detection is slower than the stream the output rate drops but the latency does not grow.

The pipeline owns the detector it is given: it closes it on `stop()` and when `set_detector` swaps in another one
(hot swap: the stream keeps running; the new detector is used from the next frame).

Both threads are supervised (`core.live.supervise`): an error is logged (rate-limited) and counted, and the loop runs
again; the detect thread always does (an error costs one frame), the source thread up to `SOURCE_MAX_FAILURES` times
a minute. Past that the pipeline is failed: it stops itself (source and model released), `running` is False, and
`stats()` says why; the registry starts a new one on the next `acquire`.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


from core.detect.base import Detections, Detector
from core.detect.staged import detect_timed
from core.live.stats import RollingStats
from core.live.supervise import ErrorLog, SupervisedThread
from core.stream.base import FpsMeter, Frame, FrameSource

logger = logging.getLogger(__name__)

STAGES = ("receive", "decode", "wait", "preprocess", "infer", "postprocess")
SOURCE_MAX_FAILURES = 5  # errors a minute before a source is given up (its pipeline fails, to be reopened)
SOURCE_RETRY_DELAY_S = 0.5
_NO_CHANGE = object()


@dataclass(frozen=True)
class LiveResult:
    """One processed frame: the source frame, its detections (None without a detector), the per-stage milliseconds
    and the latency from the frame's first packet to its detections."""

    frame: Frame
    detections: Detections | None
    timings: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    sequence: int = 0  # counts results of this pipeline from 1


class LivePipeline:
    """Runs one source and (optionally) one detector on two threads; see the module docstring."""

    def __init__(self, source: FrameSource, detector: Detector | None = None, *,
                 clock: Callable[[], float] = time.monotonic, stats_window: int = 300) -> None:
        self.source = source
        self.clock = clock
        self._detector = detector
        self._next_detector: object = _NO_CHANGE
        self._condition = threading.Condition()
        self._pending: Frame | None = None
        self._pending_since = 0.0
        self._result: LiveResult | None = None
        self._stopping = threading.Event()
        self._source_done = False
        self._timings = RollingStats(stats_window)
        self._fps_processed = FpsMeter()
        self.frames_in = 0
        self.frames_processed = 0
        self.frames_skipped = 0
        self.detector_swaps = 0
        self.failure: str | None = None
        self._detector_errors = ErrorLog(logger, "detector")
        self._close_lock = threading.Lock()
        name = source.uri[:40]
        self._threads = [
            SupervisedThread(self._source_loop, name=f"live source {name}", logger=logger, stop=self._stopping,
                             max_failures=SOURCE_MAX_FAILURES, retry_delay=SOURCE_RETRY_DELAY_S,
                             on_exit=self._source_ended),
            SupervisedThread(self._detect_loop, name=f"live detect {name}", logger=logger, stop=self._stopping,
                             on_exit=self._thread_failed)]
        self._started = False

    def start(self) -> LivePipeline:
        if not self._started:
            self._started = True
            for thread in self._threads:
                thread.start()
        return self

    def __enter__(self) -> LivePipeline:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- threads ---------------------------------------------------------------------------------------------
    def _source_loop(self) -> None:
        while not self._stopping.is_set():
            frame = self.source.read(timeout=0.2)
            if frame is None:
                if self.source.ended:
                    break
                continue
            with self._condition:
                self.frames_in += 1
                if self._pending is not None:
                    self.frames_skipped += 1
                self._pending, self._pending_since = frame, self.clock()
                self._condition.notify_all()

    def _source_ended(self, failure: str | None) -> None:
        with self._condition:
            self._source_done = True
            self._condition.notify_all()
        self._thread_failed(failure)

    def _thread_failed(self, failure: str | None) -> None:
        """A supervised thread ended; if it gave up, the pipeline fails and releases its source and model now."""
        if failure is None:
            return
        with self._condition:
            self.failure = self.failure or failure
        self.stop()

    def _detect_loop(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending is not None or self._source_done
                                         or self._stopping.is_set())
                if self._stopping.is_set() or self._pending is None:
                    break
                frame, since, self._pending = self._pending, self._pending_since, None
            self._apply_detector_swap()
            self._process(frame, since)
        self._apply_detector_swap()

    def _apply_detector_swap(self) -> None:
        with self._condition:
            if self._next_detector is _NO_CHANGE:
                return
            old, self._detector = self._detector, self._next_detector  # type: ignore[assignment]
            self._next_detector = _NO_CHANGE
            self.detector_swaps += 1
        if old is not None and old is not self._detector:
            old.close()

    def _process(self, frame: Frame, since: float) -> None:
        timings = {"receive": frame.timings.get("receive", 0.0), "decode": frame.timings.get("decode", 0.0),
                   "wait": (self.clock() - since) * 1000.0}
        detector = self._detector
        detections = None
        if detector is not None:
            try:
                (detections,), stage_ms = detect_timed(detector, [frame.image], clock=self.clock)
                timings.update(stage_ms)
            except Exception as error:  # a failing model must not stop the stream; the frame is shown unannotated
                self._detector_errors.report(error)
        done = self.clock()
        latency_ms = (done - frame.received_monotonic) * 1000.0
        with self._condition:
            self.frames_processed += 1
            self._fps_processed.tick(done)
            self._timings.add_all(timings)
            self._timings.add("latency", latency_ms)
            self._result = LiveResult(frame, detections, timings, latency_ms, self.frames_processed)
            self._condition.notify_all()

    # -- viewers ---------------------------------------------------------------------------------------------
    def latest(self) -> LiveResult | None:
        """The newest processed frame (None before the first)."""
        with self._condition:
            return self._result

    def wait_result(self, after: int = 0, timeout: float | None = None) -> LiveResult | None:
        """Block until a result newer than sequence `after` exists (or timeout / end); return the newest."""
        with self._condition:
            self._condition.wait_for(
                lambda: (self._result is not None and self._result.sequence > after) or self._stopping.is_set()
                or (self._source_done and self._pending is None), timeout)
            result = self._result
        return result if result is not None and result.sequence > after else None

    @property
    def detector(self) -> Detector | None:
        return self._detector

    def set_detector(self, detector: Detector | None) -> None:
        """Use `detector` (or none) from the next frame on; the previous one is closed by the pipeline."""
        with self._condition:
            replaced = self._next_detector
            self._next_detector = detector
            running = self._started and self._threads[1].is_alive()
        if replaced is not _NO_CHANGE and replaced is not None and replaced is not detector:
            replaced.close()  # swapped twice before the detector thread took the first one
        if not running:
            self._apply_detector_swap()

    @property
    def detector_errors(self) -> int:
        return self._detector_errors.count

    @property
    def running(self) -> bool:
        """Started, not stopped and not failed, with both threads alive."""
        return (self._started and self.failure is None and not self._stopping.is_set()
                and all(thread.is_alive() for thread in self._threads))

    @property
    def state(self) -> str:
        """"created", "running", "ended" (a finite source finished), "stopped" or "failed" (see `failure`)."""
        if self.failure is not None:
            return "failed"
        if self.running:
            return "running"
        if self._stopping.is_set():
            return "stopped"
        return "ended" if self._started else "created"

    def stats(self) -> dict:
        """Rates, per-stage milliseconds (mean/p50/p95 over the recent window), latency and the source's health."""
        now = self.clock()
        detector = self._detector
        with self._condition:
            summaries = self._timings.summaries()
            result = {
                "uri": self.source.uri,
                "running": self.running,
                "state": self.state,
                "failure": self.failure,
                "frames_in": self.frames_in,
                "frames_processed": self.frames_processed,
                "frames_skipped": self.frames_skipped,
                "fps_in": self.source.health.fps,
                "fps_processed": round(self._fps_processed.rate(now), 2),
                "detector": None if detector is None else {"name": detector.name, "backend": detector.backend,
                                                           "precision": detector.precision, "device": detector.device},
                "detector_errors": self.detector_errors,
                "detector_last_error": self._detector_errors.newest(),
                "detector_swaps": self.detector_swaps,
                "thread_errors": sum(thread.errors for thread in self._threads),
                "restarts": sum(thread.restarts for thread in self._threads),
                "stages_ms": {name: summaries[name] for name in STAGES if name in summaries},
                "latency_ms": summaries.get("latency"),
            }
        result["source"] = self.source.health_snapshot()
        return result

    def stop(self) -> None:
        """Stop both threads, close the source and the detector; safe to call twice, from any thread."""
        self._stopping.set()
        with self._condition:
            self._condition.notify_all()
        for thread in self._threads:
            if thread.is_alive() and thread.thread is not threading.current_thread():
                thread.join(timeout=10.0)
        with self._close_lock:
            self.source.close()
            self._apply_detector_swap()
            if self._detector is not None:
                self._detector.close()
                self._detector = None
