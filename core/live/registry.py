"""One LivePipeline per source URI, shared by every viewer: `acquire` starts it on first use, `release` stops it
when the last viewer leaves."""
from __future__ import annotations

import threading
from collections.abc import Callable

from core.detect.base import Detector
from core.live.pipeline import LivePipeline
from core.stream.base import FrameSource
from core.stream.sources import open_source


class PipelineRegistry:
    def __init__(self, open_frames: Callable[[str], FrameSource] = open_source) -> None:
        self._open = open_frames
        self._lock = threading.Lock()
        self._pipelines: dict[str, tuple[LivePipeline, int]] = {}

    def acquire(self, uri: str, detector: Callable[[], Detector | None] | None = None) -> LivePipeline:
        """The running pipeline for `uri` (one more viewer), created and started if there is none.

        `detector` is a factory called only when the pipeline is created; to change the model of a running
        pipeline, use `pipeline.set_detector`.
        """
        with self._lock:
            entry = self._pipelines.get(uri)
            if entry is not None and entry[0].running:
                self._pipelines[uri] = (entry[0], entry[1] + 1)
                return entry[0]
            if entry is not None:
                entry[0].stop()
            pipeline = LivePipeline(self._open(uri), detector() if detector else None).start()
            self._pipelines[uri] = (pipeline, 1)
            return pipeline

    def release(self, uri: str) -> None:
        """One viewer fewer; the last one stops the pipeline (source closed, detector closed)."""
        with self._lock:
            entry = self._pipelines.get(uri)
            if entry is None:
                return
            pipeline, viewers = entry
            if viewers > 1:
                self._pipelines[uri] = (pipeline, viewers - 1)
                return
            del self._pipelines[uri]
        pipeline.stop()

    def get(self, uri: str) -> LivePipeline | None:
        with self._lock:
            entry = self._pipelines.get(uri)
            return entry[0] if entry else None

    def viewers(self, uri: str) -> int:
        with self._lock:
            entry = self._pipelines.get(uri)
            return entry[1] if entry else 0

    def stop_all(self) -> None:
        with self._lock:
            pipelines = [pipeline for pipeline, _ in self._pipelines.values()]
            self._pipelines.clear()
        for pipeline in pipelines:
            pipeline.stop()


registry = PipelineRegistry()
