"""Live page: watch a configured stream (the Jetson's RTP stream, an RTSP camera, the demo stream...) or a video file
from the data roots, with detections drawn.

Every viewer of a source shares one pipeline (one decode, one inference per frame); the model and backend belong
to that pipeline, while the score threshold and class filter belong to this viewer only. The page never waits for a
stream: it asks this session's viewer for the source and model and draws at once; the model loads and the source
opens on a helper thread while the video says "starting" and the health panel follows.

The "Triton server" backend runs the model on an inference server (its grpc:// address, EDS_TRITON_URL by default,
and model name); the labels stay the chosen model's. A server that cannot be reached is said in the health panel,
which asks again every few seconds, so the model starts once the server is up.
"""
from __future__ import annotations

import time

import streamlit as st

st.title("Live")  # drawn before the imports below, which take seconds on a server's first visit (WebRTC, pipeline)
with st.spinner("Loading the live view..."):
    from core.catalog import models_or_untrained
    from core.detect import DetectorSpec, available_backends, load_detector
    from core.detect.triton_backend import parse_triton_url
    from core.errors import UserError
    from core.live.snapshot import snapshot_png
    from core.live.viewer import ViewFilter
    from core.model import read_labels
    from core.model.triton_repository import DEFAULT_MODEL_NAME, check_model_name
    from core.stream.configured import load_streams
    from core.stream.video_files import VIDEO_SUFFIXES, find_video_files, resolve_video_file
    from dashboard import resources
    from dashboard.components import inline
    from dashboard.components.live_health import health_panel
    from dashboard.components.live_video import session_viewer, show_video
    from dashboard.components.sources import checked_stream_uri
    from dashboard.components.text import plain

PIPELINE_MIN_SCORE = 0.1  # the shared detector keeps everything a viewer's threshold slider can ask for
SOURCES = ("Stream", "Video file")
BACKEND_LABELS = {"triton": "Triton server"}  # a remote server, not a runtime here: said so in the list
VIDEO_LIST_TTL_S = 30

settings = resources.settings()
viewer = session_viewer()


@st.cache_data(ttl=VIDEO_LIST_TTL_S, show_spinner=False)
def _video_names() -> list[str]:
    return [file.name for file in find_video_files(settings)]


def _source_uri() -> str:
    kind = st.radio("Source", SOURCES, horizontal=True, key="live_source")
    if kind == "Video file":
        names = _video_names()
        if not names:
            st.info(f"No video files ({', '.join(sorted(VIDEO_SUFFIXES))}) under the data root {plain(settings.data_root)}.")
            st.stop()
        name = st.selectbox("Video file (under the data root)", names, key="live_file")
        return f"{resolve_video_file(settings, name)}?loop=1"
    streams = load_streams(settings)
    names = [stream.name for stream in streams]
    name = st.selectbox("Stream", names, key="live_stream", help="the configured streams (Streams page)")
    return checked_stream_uri(streams[names.index(name)].uri, settings.rtp_ports)


def _detector_spec() -> DetectorSpec:
    models = models_or_untrained(settings)
    names = [model.name for model in models]
    backends = available_backends()
    model_column, backend_column = st.columns(2)
    model = models[names.index(model_column.selectbox("Model", names, key="live_model"))]
    default_backend = backends.index("onnxruntime") if "onnxruntime" in backends else 0
    backend = backend_column.selectbox("Backend", backends, index=default_backend, key="live_backend",
                                       format_func=lambda name: BACKEND_LABELS.get(name, name))
    # One ONNX Runtime thread: the pipeline shares the CPU with decoding and each viewer's encoder, and a second
    # spinning intra-op thread halved throughput on 2 cores (16 vs 28 fps measured).
    threads = 1 if backend == "onnxruntime" else None
    server = _triton_server() if backend == "triton" else {}
    return DetectorSpec(model.weights, model.labels, backend=backend, score_threshold=PIPELINE_MIN_SCORE,
                        threads=threads, **server)


def _triton_server() -> dict[str, str]:
    """The inference server and model name for the triton backend (the labels stay the chosen model's: the
    server's class count is checked against them when the detector loads)."""
    url_column, name_column = st.columns([2, 1])
    url = url_column.text_input("Server (grpc://HOST:PORT)", settings.triton_url, key="live_triton_url",
                                help="a Triton Inference Server: `python -m core serve`, or NVIDIA's container "
                                     "serving `python -m core export-triton`'s model repository").strip()
    name = name_column.text_input("Model name", DEFAULT_MODEL_NAME, key="live_triton_model").strip()
    parse_triton_url(url)
    return {"triton_url": url, "triton_model": check_model_name(name)}


with st.expander("Source and model (shared by everyone watching this source)", expanded=True):
    try:
        uri = _source_uri()
        spec = _detector_spec()
    except UserError as error:
        st.error(plain(error))
        st.stop()


def request_stream() -> None:
    """Ask for this source and model (again, after a failure); returns at once, the health panel follows."""
    viewer.request(uri, lambda: load_detector(spec), spec)


request_stream()

video_column, health_column = st.columns([3, 2])
with video_column:
    names = viewer.class_names() or read_labels(spec.labels)  # the chosen model's, until the pipeline has one
    threshold_column, classes_column = st.columns([1, 2])
    threshold = threshold_column.slider("Score threshold (this view)", PIPELINE_MIN_SCORE, 0.95, 0.5, 0.05,
                                        key="live_threshold")
    shown = classes_column.multiselect("Classes (this view; empty = all)", names[1:], key="live_classes")
    viewer.filter = ViewFilter(threshold, frozenset(names.index(name) for name in shown) if shown else None)
    show_video(viewer)
    if st.button("Snapshot", icon=":material/photo_camera:", key="live_snapshot"):
        inline.download_link("Save the snapshot (PNG)", snapshot_png(viewer),
                             f"live-{time.strftime('%Y%m%d-%H%M%S')}.png", "image/png")
with health_column:
    health_panel(viewer, retry=request_stream)
