"""Wall: every configured stream at once, as tiles of live video with detections, each with its name, the fps its
browser shows, its detections and its signal; a tile with no picture says why (for an RTP port where nothing
arrives, the likely causes), and a click opens the stream on the Live page (a new page load, see
dashboard/components/live_link.py).

Each tile holds its stream's shared pipeline like a Live viewer does (one decode, one inference and one video
encoding per frame, whoever watches), so the wall costs what the streams cost, not what its viewers cost. A stream
not yet running starts with the model chosen here; one already running keeps its own until a model is chosen
here. At most EDS_MAX_PIPELINES streams run at once: tiles past that say so. When the page is closed, the janitor
releases its pipelines as it does the Live page's.
"""
from __future__ import annotations

import time
from functools import partial

import streamlit as st

st.title("Wall")  # drawn before the imports below, which take seconds on a server's first visit (WebRTC, pipeline)
loading = st.empty()  # a plain slot, not a spinner: no transient element before the panels the page's fragments refresh
loading.caption("Loading the wall...")
from core.detect import DetectorSpec
from core.errors import UserError
from core.live.signal import signal_status
from core.live.viewer import Viewer, ViewFilter
from core.model import read_labels
from core.stream.configured import StreamEntry, load_streams
from core.stream.sources import SourceSpec
from dashboard import resources
from dashboard.components import login
from dashboard.components.live_link import live_stream_link
from dashboard.components.live_model import PIPELINE_MIN_SCORE, detector_spec
from dashboard.components.live_video import webrtc_video
from dashboard.components.sources import checked_stream_source
from dashboard.components.text import plain

loading.empty()

TILE_PERIOD_S = 1.0
RETRY_EVERY_S = 5.0  # a stream that did not start is asked for again this often
_VIEWERS = "wall_viewers"
_RETRY_AT = "wall_retry_at"

settings = resources.settings()


def _tile_viewers(uris: list[str]) -> dict[str, Viewer]:
    """This session's viewer of each stream on the wall; viewers of streams no longer configured are closed."""
    viewers: dict[str, Viewer] = st.session_state.setdefault(_VIEWERS, {})
    for uri in [uri for uri in viewers if uri not in uris]:
        viewers.pop(uri).close()
    for uri in uris:
        if uri not in viewers:
            viewers[uri] = resources.live().viewer()
    return viewers


def _ask(viewer: Viewer, source: SourceSpec, spec: DetectorSpec) -> None:
    """Ask for the tile's stream (again after RETRY_EVERY_S, when the last try failed)."""
    retry_at: dict[str, float] = st.session_state.setdefault(_RETRY_AT, {})
    if viewer.request_error is not None and time.monotonic() < retry_at.get(source.uri, 0.0):
        return
    retry_at[source.uri] = time.monotonic() + RETRY_EVERY_S
    viewer.request(source, partial(resources.live().load_detector, spec), spec)


def _tile_status(viewer: Viewer) -> tuple[str, str]:
    """(text, level) over a tile: why it shows no picture, or nothing while it is live."""
    pipeline = viewer.pipeline
    if pipeline is None:
        return (viewer.request_error or "Starting...", "error" if viewer.request_error else "info")
    status = signal_status(pipeline.source.uri, pipeline.source.health_snapshot())
    return ("", "info") if status.live else (status.summary(), status.level)


def _tile_caption(viewer: Viewer) -> str:
    """What the server does for a tile: processed rate, end-to-end latency and the model running."""
    pipeline = viewer.pipeline
    if pipeline is None:
        return "not running"
    stats = pipeline.stats()
    latency, detector = stats["latency_ms"], stats["detector"]
    return (f"processed {stats['fps_processed']:.1f} fps · latency p95 "
            + (f"{latency['p95']:.0f} ms" if latency else "–")
            + (f" · model {detector['name']} ({detector['backend']})" if detector else " · no model"))


@login.fragment(run_every=TILE_PERIOD_S)
def _wall(streams: list[StreamEntry], spec: DetectorSpec, view: ViewFilter) -> None:
    """The tiles, refreshed once a second (their status; the video and its boxes go on in the browser)."""
    sources: dict[str, SourceSpec | UserError] = {}
    for stream in streams:
        try:
            sources[stream.name] = checked_stream_source(stream.uri, settings.rtp_ports)
        except UserError as error:
            sources[stream.name] = error
    viewers = _tile_viewers([source.uri for source in sources.values() if isinstance(source, SourceSpec)])
    names = read_labels(spec.labels)
    columns = st.columns(1 if len(streams) == 1 else 2 if len(streams) <= 4 else 3)
    for number, stream in enumerate(streams):
        source = sources[stream.name]
        with columns[number % len(columns)]:
            if isinstance(source, UserError):
                st.error(f"{plain(stream.name)}: {plain(source)}")
                continue
            viewer = viewers[source.uri]
            _ask(viewer, source, spec)
            viewer.touch()
            text, level = _tile_status(viewer)
            webrtc_video(viewer, key=f"wall_tile_{number}", view=view, names=viewer.class_names() or names,
                         mode="tile", title=stream.name, status=text, status_level=level,
                         link=live_stream_link(stream.name))
            st.caption(plain(_tile_caption(viewer)))


def _model_and_view() -> tuple[DetectorSpec, ViewFilter] | None:
    """The wall's model and this browser's threshold; None when the model cannot be used (said in place)."""
    with st.expander("Model and view"):
        try:
            spec = detector_spec(settings, "wall")
        except UserError as error:
            st.error(plain(error))
            return None
        threshold = st.slider("Score threshold (this wall)", PIPELINE_MIN_SCORE, 0.95, 0.5, 0.05,
                              key="wall_threshold")
        st.caption("The model runs every stream on the wall (shared: the Live page shows the same); a stream "
                   "already running when the wall opens keeps its model until one is chosen here. The threshold "
                   "applies to this browser's tiles only.")
    return spec, ViewFilter(threshold)


# No st.stop() on this page (see the Live page's end): a run ends early by drawing nothing more.
streams = load_streams(settings)
if not streams:
    st.info("No stream is configured: add them on the Streams page.")
elif (chosen := _model_and_view()) is not None:
    _wall(streams, *chosen)
