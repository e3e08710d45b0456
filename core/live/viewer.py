"""One viewer of a shared LivePipeline: its own score threshold and class filter, applied when its frames are
drawn (never to the shared pipeline), the frames it was shown, and a "no signal" picture while the source is quiet.

The shared pipeline detects at a low threshold; each viewer keeps the detections it wants and draws them on the
source frame itself, so two viewers of one pipeline can see different boxes at the cost of one drawing each.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import cv2
import numpy as np

from core.detect.base import Detections, Detector
from core.detect.overlay import draw_detections
from core.detect.pool import DetectorPool
from core.errors import UserError
from core.live.pipeline import LivePipeline, LiveResult
from core.live.registry import PipelineRegistry, source_key
from core.live.supervise import SupervisedThread
from core.stream.base import FpsMeter
from core.stream.sources import SourceSpec, as_source_spec

logger = logging.getLogger(__name__)

NO_SIGNAL_AFTER_S = 0.5
PAGE_GONE_S = 5.0  # no `touch()` for this long: the page is closed or hidden, so its frames are not drawn
IDLE_RELEASE_S = 30.0  # a viewer whose page has not asked for anything this long stops holding its pipeline
_JANITOR_PERIOD_S = 5.0


@dataclass(frozen=True)
class Cursor:
    """Where one consumer of a viewer's pictures (its WebRTC track, its image view) is: the viewer's `generation`
    (which pipeline it held) and the newest result `sequence` of that pipeline already shown.

    Result sequences count per pipeline from 1, so a sequence reached on one source means nothing on the next: a
    cursor of an older generation starts the new pipeline from its first result (a plain number carried over
    would wait for the new source to pass the old one's count, showing "no signal" meanwhile).
    """

    generation: int = -1
    sequence: int = 0


@dataclass(frozen=True)
class ViewFilter:
    """What one viewer keeps: detections scoring at least `min_score`, of `classes` (None: every class)."""

    min_score: float = 0.5
    classes: frozenset[int] | None = None

    def apply(self, detections: Detections) -> Detections:
        return detections.filtered(min_score=self.min_score,
                                   classes=None if self.classes is None else set(self.classes))


def render_view(result: LiveResult, view: ViewFilter, class_names: list[str]) -> np.ndarray:
    """The source frame of `result` with the detections `view` keeps drawn on it (BGR uint8)."""
    if result.detections is None:
        return result.frame.image
    return draw_detections(result.frame.image, view.apply(result.detections), class_names)


def placeholder_image(image: np.ndarray | None, text: str, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """The last picture dimmed (or a dark frame of `size` before any) with `text` ("NO SIGNAL 3 s") across it."""
    if image is None:
        canvas = np.full((size[1], size[0], 3), 24, np.uint8)
    else:
        canvas = (image.astype(np.uint16) * 2 // 5).astype(np.uint8)
    height, width = canvas.shape[:2]
    scale = max(min(width, height) / 480.0, 0.4)
    (text_width, text_height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.2 * scale, 2)
    origin = (max((width - text_width) // 2, 0), (height + text_height) // 2)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 1.2 * scale, (80, 80, 255), max(int(2 * scale), 1),
                cv2.LINE_AA)
    return canvas


def signal_text(state: str, seconds_since_data: float | None) -> str:
    """What a viewer is told when no new frame comes: waiting for a first frame (or, while packets arrive, for a
    keyframe to start decoding at), or no signal for N seconds."""
    if state == "waiting":
        return "WAITING FOR STREAM"
    if state == "waiting_keyframe":
        return "WAITING FOR A KEYFRAME"
    if state == "ended":
        return "STREAM ENDED"
    return "NO SIGNAL" if seconds_since_data is None else f"NO SIGNAL {seconds_since_data:.0f} s"


class Viewer:
    """One browser session watching one source at a time through its own `ViewFilter`; made by the live service
    (`LiveService.viewer`), whose registry, detector pool and janitor it uses.

    `watch(uri, ...)` releases the pipeline this viewer holds, then acquires the shared pipeline of `uri` from the
    registry (so switching source never needs two pipelines at once). The pipeline is released by `close()`, when
    the viewer is garbage-collected, or when the page has not called `touch()` for `idle_release` seconds (a closed
    tab: Streamlit keeps a gone session for minutes, and its WebRTC connection may linger: the janitor's sweep
    finds it); `touch()` then watches the same source again, as it does when the pipeline failed. Thread-safe: the page thread changes the filter
    while media threads read frames.
    """

    def __init__(self, registry: PipelineRegistry, clock: Callable[[], float] = time.monotonic, *,
                 idle_release: float = IDLE_RELEASE_S, detectors: DetectorPool | None = None,
                 janitor: Janitor | None = None) -> None:
        self._registry = registry
        self._detectors = detectors or DetectorPool()
        self._janitor = janitor  # releases this viewer's pipeline when its page goes quiet (None: its owner does)
        self.clock = clock
        self.idle_release = idle_release
        self._touched = clock()
        self._wanted: tuple[str | SourceSpec, Callable[[], Detector | None] | None] | None = None
        self.filter = ViewFilter()
        self._lock = threading.Lock()
        self._pipeline: LivePipeline | None = None
        self._uri: str | None = None
        self._generation = 0  # counts the pipelines this viewer held (see Cursor)
        self._release: weakref.finalize | None = None
        self._fps = FpsMeter()
        self.frames_shown = 0
        self._last_image: np.ndarray | None = None
        self._last_result_at: float | None = None
        self._held = threading.Event()  # set while a pipeline is held: next_image waits for one
        self._requested: tuple[str, Hashable] | None = None
        self._requests_running = 0
        self._request_error: str | None = None
        self._asked_at: float | None = None  # when this viewer asked for its current source
        self._first_picture_s: float | None = None
        self._browser_frames: deque[tuple[float, int]] = deque(maxlen=8)  # (browser ms, frames shown) reports
        self._browser_reported_at: float | None = None

    @property
    def uri(self) -> str | None:
        return self._uri

    @property
    def pipeline(self) -> LivePipeline | None:
        return self._pipeline

    @property
    def starting(self) -> bool:
        """A `request` is still being carried out (a model loading, a source opening)."""
        with self._lock:
            return self._requests_running > 0

    @property
    def requested_model(self) -> Hashable | None:
        """The model key of the newest `request` (None before one, or after a failed one until asked again)."""
        with self._lock:
            return self._requested[1] if self._requested is not None else None

    @property
    def request_error(self) -> str | None:
        """Why the newest `request` failed (one line), or None."""
        with self._lock:
            return self._request_error

    def request(self, source: str | SourceSpec, detector: Callable[[], Detector], detector_key: Hashable) -> None:
        """Watch `source` with the model `detector_key` names, without waiting: a page asks this on every run and
        draws at once, while a helper thread loads the model and opens the source (seconds). Asking again for what
        was asked last does nothing. The same source with another model swaps the model of the running pipeline
        (shared: every viewer of it sees the new model) unless the pipeline had to be created anyway. Models come
        from the detector pool, so switching source reuses the model the old source's pipeline gave back. The
        newest request wins; a failure is kept in `request_error` for the page to show."""
        uri = source_key(source)
        with self._lock:
            if self._requested == (uri, detector_key):
                return
            previous, self._requested = self._requested, (uri, detector_key)
            self._request_error = None
            self._requests_running += 1
            if previous is None or previous[0] != uri:
                self._asked_at, self._first_picture_s = self.clock(), None
        swap = previous is not None and previous[0] == uri
        threading.Thread(target=self._carry_out, args=(source, detector, detector_key, swap),
                         name=f"live view start {uri[:30]}", daemon=True).start()

    def _carry_out(self, source: str | SourceSpec, detector: Callable[[], Detector], detector_key: Hashable,
                   swap: bool) -> None:
        uri = source_key(source)
        created: list[bool] = []

        def create() -> Detector:
            created.append(True)
            return self._detectors.lend(detector_key, detector)

        try:
            pipeline = self.watch(source, create)
            if swap and not created and self._is_requested(uri, detector_key):
                pipeline.set_detector(self._detectors.lend(detector_key, detector))
        except UserError as error:
            self._request_failed(uri, detector_key, str(error))
        except Exception as error:  # any other failure is shown too (one line); the trace goes to the log
            logger.exception("live view of %s did not start", uri)
            self._request_failed(uri, detector_key, f"the stream did not start: {type(error).__name__}: {error}")
        finally:
            with self._lock:
                self._requests_running -= 1

    def _is_requested(self, uri: str, detector_key: Hashable) -> bool:
        with self._lock:
            return self._requested == (uri, detector_key)

    def _request_failed(self, uri: str, detector_key: Hashable, message: str) -> None:
        with self._lock:
            if self._requested == (uri, detector_key):
                self._request_error = message
                # asking again retries; for this source still, so a model that failed to swap in is swapped then
                self._requested = (uri, None)

    def watch(self, source: str | SourceSpec, detector: Callable[[], Detector | None] | None = None) -> LivePipeline:
        """Watch `source` (its shared pipeline is created with `detector()` if nobody watches it yet) and wait for
        it; a URI text is parsed here, once."""
        uri = source_key(source)
        with self._lock:
            self._wanted, self._touched = (source, detector), self.clock()
            if self._uri == uri and self._pipeline is not None and self._pipeline.running:
                return self._pipeline
        self.close(forget=False)
        try:
            spec = as_source_spec(source)
            pipeline = self._registry.acquire(spec, detector)
        except BaseException:
            with self._lock:
                if self._wanted is not None and source_key(self._wanted[0]) == uri:
                    self._wanted = None  # `touch()` must not retry what failed: the page shows the error once
            raise
        if not self._hold(spec, pipeline):
            self._registry.release(uri)
        return pipeline

    def _hold(self, spec: SourceSpec, pipeline: LivePipeline) -> bool:
        """Keep `pipeline` (of `spec`) and release what was held before; False, keeping nothing, if a newer `watch`
        wants another source meanwhile (overlapping reruns of one page: the newest wish wins)."""
        uri = spec.uri
        with self._lock:
            if self._wanted is None or source_key(self._wanted[0]) != uri:
                return False
            self._wanted = (spec, self._wanted[1])  # resuming watches the parsed spec
            previous, self._release = self._release, weakref.finalize(self, self._registry.release, uri)
            self._pipeline, self._uri = pipeline, uri
            self._generation += 1
            self._last_image, self._last_result_at = None, None
            self._held.set()
        if previous is not None:
            previous()
        if self._janitor is not None:
            self._janitor.add(self)
        return True

    def close(self, *, forget: bool = True) -> None:
        """Stop watching: the shared pipeline stops when its last viewer closes. With `forget=False` (idle), a
        later `touch()` watches the same source again."""
        with self._lock:
            release, self._release = self._release, None
            self._pipeline, self._uri = None, None
            self._held.clear()
            if forget:
                self._wanted = None
        if release is not None:
            release()

    def _follow_successor(self) -> None:
        """If the pipeline held stopped because another URI rebuilt its UDP port in place (see the registry), watch
        that URI's pipeline instead: the registry already counts this viewer there."""
        with self._lock:
            pipeline, uri = self._pipeline, self._uri
        if pipeline is None or uri is None or pipeline.running:
            return
        successor = self._registry.successor(uri)
        replacement = self._registry.get(successor) if successor is not None else None
        if replacement is None or not replacement.running:
            return
        with self._lock:
            if self._pipeline is not pipeline:
                return  # a watch() came first
            if self._release is not None:
                self._release.detach()
            self._release = weakref.finalize(self, self._registry.release, successor)
            self._pipeline, self._uri = replacement, successor
            self._wanted = (successor, self._wanted[1] if self._wanted is not None else None)
            self._generation += 1
            self._last_image, self._last_result_at = None, None
        logger.info("live view follows %s to %s (its port was reopened with other settings)", uri, successor)

    def touch(self) -> None:
        """The page is still open: keep (or take up again) the pipeline; a failed pipeline is started again, one
        whose port another URI took over is followed there."""
        self._follow_successor()
        with self._lock:
            self._touched = self.clock()
            pipeline = self._pipeline
            idle = self._requests_running == 0  # else a request is starting the source: not a second time
            resume = self._wanted if idle and (pipeline is None or pipeline.failure is not None) else None
        if resume is not None:
            try:
                self.watch(*resume)
            except UserError as error:
                logger.warning("live view of %s not resumed: %s", resume[0], error)

    def page_open(self) -> bool:
        """Whether the page touched this viewer within PAGE_GONE_S (a closed tab's WebRTC peer lingers for a while;
        not feeding it saves drawing and encoding)."""
        with self._lock:
            return self.clock() - self._touched < PAGE_GONE_S

    def release_if_idle(self) -> bool:
        """Close (keeping the source to resume) if the page went quiet; True if it did."""
        with self._lock:
            idle = self._pipeline is not None and self.clock() - self._touched > self.idle_release
        if idle:
            self.close(forget=False)
        return idle

    def class_names(self) -> list[str]:
        pipeline = self._pipeline
        detector = pipeline.detector if pipeline is not None else None
        return list(detector.class_names) if detector is not None else []

    def next_image(self, cursor: Cursor, timeout: float) -> tuple[np.ndarray | None, Cursor]:
        """The next picture for this viewer and the cursor to pass next time.

        A result newer than `cursor` (waiting up to `timeout` s) drawn with this viewer's filter; else, when the
        source has been quiet for NO_SIGNAL_AFTER_S or is not live, a placeholder saying so; else None (the
        stream is only slower than `timeout`). A cursor of a source this viewer no longer watches starts at the
        current source's first result. Without a pipeline it waits up to `timeout` for one, and says "STARTING"
        while a `request` is under way.
        """
        self._follow_successor()
        if not self._held.wait(timeout):
            return (placeholder_image(None, "STARTING...") if self.starting else None), cursor
        with self._lock:
            pipeline, generation = self._pipeline, self._generation
        if pipeline is None:
            return None, cursor
        after = cursor.sequence if cursor.generation == generation else 0
        cursor = Cursor(generation, after)
        result = pipeline.wait_result(after, timeout)
        now = self.clock()
        if result is not None:
            image = render_view(result, self.filter, self.class_names())
            with self._lock:
                if generation == self._generation:  # not a late result of a source switched away from meanwhile
                    self._last_image, self._last_result_at = image, now
            return image, Cursor(generation, result.sequence)
        health = pipeline.source.health
        quiet = self._last_result_at is None or now - self._last_result_at >= NO_SIGNAL_AFTER_S
        if health.state == "live" and not quiet:
            return None, cursor
        seconds = health.seconds_since_data
        if seconds is None and self._last_result_at is not None:
            seconds = now - self._last_result_at
        state = "no_signal" if health.state == "live" else health.state
        return placeholder_image(self._last_image, signal_text(state, seconds)), cursor

    def current_pipeline(self, timeout: float) -> LivePipeline | None:
        """The pipeline this viewer holds (following its port to another URI, see the registry), waiting up to
        `timeout` s for one; None without one."""
        self._follow_successor()
        if not self._held.wait(timeout):
            return None
        return self._pipeline

    def note_shown(self, *, picture: bool = True) -> None:
        """Count one frame handed to the browser (for "fps shown" where the browser does not report its own);
        `picture` False for a placeholder, which does not end the wait for a first picture."""
        now = self.clock()
        with self._lock:
            self.frames_shown += 1
            self._fps.tick(now)
            if picture and self._first_picture_s is None and self._asked_at is not None:
                self._first_picture_s = now - self._asked_at

    def note_browser_frames(self, frames: int, browser_ms: float) -> None:
        """The browser's own count of the frames it has shown, at its clock's `browser_ms` (reported about once a
        second over the WebRTC data channel)."""
        with self._lock:
            if self._browser_frames and (browser_ms <= self._browser_frames[-1][0]
                                         or frames < self._browser_frames[-1][1]):
                self._browser_frames.clear()  # a new connection counts from 0 again
            self._browser_frames.append((browser_ms, frames))
            self._browser_reported_at = self.clock()

    def fps_shown(self) -> float:
        """Frames per second this viewer's browser shows: from the browser's reports over the last seconds when
        it sends them, else from the frames handed to it."""
        now = self.clock()
        with self._lock:
            if self._browser_reported_at is not None and now - self._browser_reported_at < 3.0:
                if len(self._browser_frames) < 2:
                    return 0.0
                (first_ms, first), (last_ms, last) = self._browser_frames[0], self._browser_frames[-1]
                return round((last - first) * 1000.0 / (last_ms - first_ms), 2)
            return round(self._fps.rate(now), 2)

    def first_picture_s(self) -> float | None:
        """Seconds from asking for the current source to its first picture handed to the browser (None before)."""
        with self._lock:
            return self._first_picture_s


class Janitor:
    """Every `period` seconds, releases the pipelines of watching viewers whose page went quiet; its thread is
    supervised (an error is logged and counted, and the sweep goes on), started by the first `add`."""

    def __init__(self, period: float = _JANITOR_PERIOD_S) -> None:
        self.period = period
        self._viewers: weakref.WeakSet[Viewer] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: SupervisedThread | None = None
        self._stopping = threading.Event()

    def add(self, viewer: Viewer) -> None:
        with self._lock:
            self._viewers.add(viewer)
            if self._thread is None and not self._stopping.is_set():
                self._thread = SupervisedThread(self._run, name="live viewer janitor", logger=logger,
                                                retry_delay=self.period, stop=self._stopping).start()

    def sweep(self) -> None:
        """One pass. A viewer is taken out before it is asked, so one that raises is not asked again (it is put
        back by its next `watch`) and cannot keep the viewers after it from being released."""
        with self._lock:
            viewers = list(self._viewers)
        for viewer in viewers:
            with self._lock:
                self._viewers.discard(viewer)
            if not viewer.release_if_idle():
                with self._lock:
                    self._viewers.add(viewer)

    def watching(self) -> int:
        with self._lock:
            return len(self._viewers)

    def stats(self) -> dict[str, int]:
        """`thread_errors` and `restarts` of the janitor's thread (0 before it started)."""
        thread = self._thread
        return {"thread_errors": thread.errors if thread else 0, "restarts": thread.restarts if thread else 0}

    def stop(self) -> None:
        """End the sweeps (the janitor's owner is shutting down)."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self.period + 1.0)

    def _run(self) -> None:
        while not self._stopping.wait(self.period):
            self.sweep()
