"""Live page: watch a configured stream (the Jetson's RTP stream, an RTSP camera, the demo stream...) or a video file
from the data roots, with detections drawn.

Every viewer of a source shares one pipeline (one decode, one inference and one video encoding per frame); the
model and backend belong to that pipeline, while the score threshold and class filter belong to this viewer only:
the boxes are drawn by this browser over the shared video. The page never waits for a stream: it asks this
session's viewer for the source and model and draws at once; the model loads and the source opens on a helper
thread while the video says "starting" and the panels above and below it follow.

The "Triton server" backend runs the model on an inference server (its grpc:// address, EDS_TRITON_URL by default,
and model name); the labels stay the chosen model's. A server that cannot be reached is said above the video,
which asks again every few seconds, so the model starts once the server is up.
"""
from __future__ import annotations

import time
from functools import partial

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

st.title("Live")  # drawn before the imports below, which take seconds on a server's first visit (WebRTC, pipeline)
loading = st.empty()  # a plain slot, not a spinner: no transient element before the panels the page's fragments refresh
loading.caption("Loading the live view...")
from core.detect import DetectorSpec
from core.errors import UserError
from core.live.snapshot import snapshot_png
from core.live.viewer import ViewFilter
from core.model import read_labels
from core.stream.configured import load_streams
from core.stream.sources import SourceSpec, parse_source_uri
from core.stream.video_files import VIDEO_SUFFIXES, find_video_files, resolve_video_file
from dashboard import resources
from dashboard.components import inline
from dashboard.components.live_health import health_panel, signal_panel
from dashboard.components.live_link import linked_stream
from dashboard.components.live_model import PIPELINE_MIN_SCORE, detector_spec
from dashboard.components.live_video import session_viewer, show_video
from dashboard.components.sources import checked_stream_source
from dashboard.components.text import plain

loading.empty()

SOURCES = ("Stream", "Video file")
VIDEO_LIST_TTL_S = 30
DEFAULT_THRESHOLD = 0.5
# this viewer's filter, kept apart from its widgets: a widget that is not drawn in one run (a source without
# video files ends the page early) loses its value, and the filter must survive that
_KEPT_THRESHOLD, _KEPT_CLASSES = "live_kept_threshold", "live_kept_classes"

settings = resources.settings()
viewer = session_viewer()


@st.cache_data(ttl=VIDEO_LIST_TTL_S, show_spinner=False)
def _video_names() -> list[str]:
    return [file.name for file in find_video_files(settings)]


def _follow_link() -> None:
    """Choose the stream this page was opened for (a wall tile's link), once; say so if none is named that."""
    linked = linked_stream()
    if linked is None:
        return
    if linked in [stream.name for stream in load_streams(settings)]:
        st.session_state["live_source"], st.session_state["live_stream"] = SOURCES[0], linked
    else:  # in the loading message's slot: a message of its own would move the places the fragments refresh
        loading.warning(f"No configured stream is named {plain(linked)} (Streams page).")


def _source(kind_area: DeltaGenerator, source_area: DeltaGenerator) -> SourceSpec | None:
    """The chosen stream or video file, parsed here once (the spec travels to the pipeline); None when there is
    no video file to choose (said in `source_area`)."""
    _follow_link()
    kind = kind_area.radio("Source", SOURCES, key="live_source")
    if kind == "Video file":
        names = _video_names()
        if not names:
            source_area.info(f"No video files ({', '.join(sorted(VIDEO_SUFFIXES))}) under the data root "
                             f"{plain(settings.data_root)}.")
            return None
        name = source_area.selectbox("Video file (under the data root)", names, key="live_file")
        return parse_source_uri(f"{resolve_video_file(settings, name)}?loop=1")
    streams = load_streams(settings)
    names = [stream.name for stream in streams]
    name = source_area.selectbox("Stream", names, key="live_stream",
                                 help="the configured streams (Streams page); every stream at once: the Wall page")
    return checked_stream_source(streams[names.index(name)].uri, settings.rtp_ports)


def _choices() -> tuple[SourceSpec, DetectorSpec] | None:
    """The source and model chosen; None when the page said why there is none to show."""
    source_columns, model_columns = st.columns([1, 3]), st.columns([3, 2])
    try:
        source = _source(*source_columns)
        return None if source is None else (source, detector_spec(settings, "live", model_columns))
    except UserError as error:
        st.error(plain(error))
        return None


def request_stream(source: SourceSpec, spec: DetectorSpec) -> None:
    """Ask for this source and model (again, after a failure); returns at once, the panels follow."""
    viewer.request(source, partial(resources.live().load_detector, spec), spec)


def view_filter(names: list[str]) -> ViewFilter:
    """This viewer's score threshold and classes (kept across runs, see _KEPT_THRESHOLD)."""
    threshold_column, classes_column, snapshot_column = st.columns([2, 3, 0.6], vertical_alignment="bottom")
    threshold = threshold_column.slider("Score threshold (this view)", PIPELINE_MIN_SCORE, 0.95,
                                        st.session_state.get(_KEPT_THRESHOLD, DEFAULT_THRESHOLD), 0.05,
                                        key="live_threshold")
    kept = [name for name in st.session_state.get(_KEPT_CLASSES, []) if name in names[1:]]
    shown = classes_column.multiselect("Classes (this view; empty = all)", names[1:], default=kept,
                                       key="live_classes")
    st.session_state[_KEPT_THRESHOLD], st.session_state[_KEPT_CLASSES] = threshold, shown
    saved = st.container()  # in every run (see the layout below), holding the snapshot's link when there is one
    if snapshot_column.button(":material/photo_camera:", key="live_snapshot",
                              help="Snapshot: the frame on screen as this view shows it (PNG)"):
        with saved:
            inline.download_link("Save the snapshot (PNG)", snapshot_png(viewer),
                                 f"live-{time.strftime('%Y%m%d-%H%M%S')}.png", "image/png")
    return ViewFilter(threshold, frozenset(names.index(name) for name in shown) if shown else None)


def show_stream(source: SourceSpec, spec: DetectorSpec) -> None:
    """The stream's filter, panels and video. Every run draws the same elements in the same places (slots that may
    stay empty), so the panels' fragments, refreshed every second, always find their place; the video reruns only
    itself (see show_video)."""
    request_stream(source, spec)
    class_names = viewer.class_names() or read_labels(spec.labels)  # the chosen model's, until the pipeline has one
    viewer.filter = view_filter(class_names)
    signal_panel(viewer, retry=partial(request_stream, source, spec))
    show_video(viewer, class_names)
    health_panel(viewer)


# No st.stop() on this page: a run stopped early leaves its fragments registered on the server while the browser
# removes what the run did not draw, so a fragment refresh already on its way would address a place that is gone.
choices = _choices()
if choices is not None:
    show_stream(*choices)
