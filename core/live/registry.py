"""One LivePipeline per source URI, shared by every viewer: `acquire` starts it on first use, `release` stops it
when the last viewer leaves. A source is given as its parsed `SourceSpec` (a URI text is parsed once, on
`acquire`), and pipelines are keyed by the spec's URI text.

Loading a model and opening a source take seconds, so they happen outside the registry's lock: a URI being started
is marked, a second viewer of that URI waits for it (and then shares it), while other URIs, `get()` and
`viewers()` go on. What a failed start opened is closed again, so a port is never left bound. At most
`max_pipelines` pipelines run at once.

A UDP port is bound by one pipeline at a time. Acquiring an rtp:// URI whose port another URI's pipeline holds (the
same port with other settings: codec, payload type) rebuilds the port's receiver in place: the old pipeline is
stopped, closing its socket, before the new one binds, and its viewers carry over to the new URI (`successor`
tells them where their stream went), so there is never an "Address already in use".
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from core.detect.base import Detector
from core.errors import UserError
from core.live.pipeline import LivePipeline
from core.stream.base import FrameSource
from core.stream.sources import SourceSpec, as_source_spec, open_source

DetectorFactory = Callable[[], Detector | None]


def source_key(source: str | SourceSpec) -> str:
    """The text a source's pipeline is kept under: its spec's URI (a URI text as it is, stripped)."""
    return source.uri if isinstance(source, SourceSpec) else source.strip()


@dataclass
class _Entry:
    """A URI's pipeline (None while it is being started or stopped), how many viewers hold it and the UDP port its
    source binds (an rtp:// source's fixed port; None for port 0, any free port, and other sources)."""

    pipeline: LivePipeline | None = None
    viewers: int = 0
    port: int | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class PipelineRegistry:
    """Shares pipelines by URI; thread-safe. `open_frames` opens a source (under its owner's policy: see
    `core.live.service`); `max_pipelines` None means no cap."""

    def __init__(self, open_frames: Callable[[SourceSpec], FrameSource] = open_source, *,
                 max_pipelines: int | None = None) -> None:
        self._open = open_frames
        self.max_pipelines = max_pipelines
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._successors: dict[str, str] = {}  # a URI whose port was rebuilt in place -> the URI that took it

    def acquire(self, source: str | SourceSpec, detector: DetectorFactory | None = None) -> LivePipeline:
        """The running pipeline for `source` (one more viewer), created and started if there is none; a URI text is
        parsed first (a UserError if it does not parse).

        `detector` is a factory called only when the pipeline is created; to change the model of a running
        pipeline, use `pipeline.set_detector`. A pipeline that failed or ended is replaced (its viewers carry over).
        Raises UserError when `max_pipelines` are running already; nothing is left open when a step fails. Another
        URI's pipeline on the same UDP port is replaced (see the module docstring).
        """
        spec = as_source_spec(source)
        uri = spec.uri
        while True:
            with self._lock:
                entry = self._entries.get(uri)
                rival = self._rival(spec) if entry is None else None
                if rival is not None and rival[1].pipeline is None:
                    starting = rival[1].ready  # the port's other settings are being started: replace them after
                elif entry is not None and entry.pipeline is None:
                    starting = entry.ready  # another viewer is starting this URI: wait for it, then share it
                elif entry is not None and entry.pipeline.running:
                    entry.viewers += 1
                    return entry.pipeline
                else:
                    dead, entry = self._claim(spec, entry, rival)
                    break
            starting.wait()
        return self._start(spec, entry, dead, detector)

    def _rival(self, spec: SourceSpec) -> tuple[str, _Entry] | None:
        """Another URI's entry bound to the UDP port of `spec` (under the lock)."""
        port = spec.port
        if not port:
            return None
        return next(((other, entry) for other, entry in self._entries.items()
                     if other != spec.uri and entry.port == port), None)

    def _claim(self, spec: SourceSpec, entry: _Entry | None,
               rival: tuple[str, _Entry] | None) -> tuple[LivePipeline | None, _Entry]:
        """Mark `spec` as being started (under the lock); returns the dead or displaced pipeline it replaces, if
        any (a displaced one's viewers carry over)."""
        uri = spec.uri
        if entry is None and rival is None and self.max_pipelines is not None \
                and len(self._entries) >= self.max_pipelines:
            raise UserError(f"at most {self.max_pipelines} live streams at once (EDS_MAX_PIPELINES); "
                            "close another live view or wait until an idle one is released")
        if rival is not None:
            del self._entries[rival[0]]
            self._successors[rival[0]] = uri
            entry = rival[1]
        self._successors.pop(uri, None)
        dead = entry.pipeline if entry is not None else None
        claimed = _Entry(viewers=entry.viewers if entry is not None else 0, port=spec.port or None)
        self._entries[uri] = claimed
        return dead, claimed

    def successor(self, source: str | SourceSpec) -> str | None:
        """The URI whose pipeline now holds the port `source` had (its viewers were carried over), if it runs."""
        with self._lock:
            return self._successor(source_key(source))

    def _successor(self, uri: str) -> str | None:
        seen: set[str] = set()
        while uri not in self._entries:
            if uri in seen or uri not in self._successors:
                return None
            seen.add(uri)
            uri = self._successors[uri]
        return uri if seen else None

    def _start(self, spec: SourceSpec, entry: _Entry, dead: LivePipeline | None,
               detector: DetectorFactory | None) -> LivePipeline:
        """Stop `dead`, then load the model and open the source without the lock; publish or roll back."""
        uri = spec.uri
        try:
            if dead is not None:
                dead.stop()  # frees its port before the new source binds it
            pipeline = self._create(spec, detector)
        except BaseException:
            with self._lock:
                entry.pipeline = dead
                if dead is None or entry.viewers == 0:
                    self._forget(uri, entry)
            entry.ready.set()
            raise
        with self._lock:
            registered = self._entries.get(uri) is entry
            if registered:
                entry.pipeline = pipeline
                entry.viewers += 1
        entry.ready.set()
        if not registered:  # stop_all ran meanwhile
            pipeline.stop()
            raise UserError("the live streams were stopped while this one was starting; try again")
        return pipeline

    def _create(self, spec: SourceSpec, detector: DetectorFactory | None) -> LivePipeline:
        """A started pipeline of a new source and model; whichever of them was made is closed if a step fails."""
        model = detector() if detector is not None else None
        source: FrameSource | None = None
        try:
            source = self._open(spec)
            return LivePipeline(source, model).start()
        except BaseException:
            if source is not None:
                source.close()
            if model is not None:
                model.close()
            raise

    def _forget(self, uri: str, entry: _Entry) -> None:
        if self._entries.get(uri) is entry:
            del self._entries[uri]

    def release(self, source: str | SourceSpec) -> None:
        """One viewer fewer; the last one stops the pipeline (source closed, detector closed). Until it has stopped,
        its entry stays, marked as starting: a viewer arriving meanwhile waits, then starts the URI anew on a port
        that is free again."""
        uri = source_key(source)
        with self._lock:
            if uri not in self._entries:
                uri = self._successor(uri) or uri  # a viewer of a port rebuilt in place: its count moved there
            entry = self._entries.get(uri)
            if entry is None or entry.viewers == 0:
                return
            entry.viewers -= 1
            if entry.viewers > 0 or entry.pipeline is None:
                return
            stopping, entry.pipeline, entry.ready = entry.pipeline, None, threading.Event()
        try:
            stopping.stop()
        finally:
            with self._lock:
                self._forget(uri, entry)
            entry.ready.set()

    def get(self, source: str | SourceSpec) -> LivePipeline | None:
        """The pipeline of `source` (None if there is none, or while it is starting); never waits for a start."""
        with self._lock:
            entry = self._entries.get(source_key(source))
            return entry.pipeline if entry else None

    def viewers(self, source: str | SourceSpec) -> int:
        with self._lock:
            entry = self._entries.get(source_key(source))
            return entry.viewers if entry else 0

    def stop_all(self) -> None:
        with self._lock:
            pipelines = [entry.pipeline for entry in self._entries.values() if entry.pipeline is not None]
            self._entries.clear()
            self._successors.clear()
        for pipeline in pipelines:
            pipeline.stop()
