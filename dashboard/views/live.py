"""Live page: watch a source (the Jetson's RTP stream, a video file, the demo stream) with detections drawn.

Every viewer of a source shares one pipeline (one decode, one inference per frame); the model and backend belong
to that pipeline, while the score threshold and class filter belong to this viewer only.
"""
from __future__ import annotations

import time

import streamlit as st

from core.catalog import find_models
from core.detect import DetectorSpec, available_backends, load_detector
from core.errors import UserError
from core.live.snapshot import snapshot_png
from core.live.viewer import ViewFilter
from dashboard import resources
from dashboard.components import inline
from dashboard.components.live_health import health_panel
from dashboard.components.live_video import session_viewer, show_video
from dashboard.components.sources import rtp_uri

PIPELINE_MIN_SCORE = 0.1  # the shared detector keeps everything a viewer's threshold slider can ask for
SOURCES = ("Demo stream", "Jetson stream (RTP)", "Video file")

st.title("Live")
settings = resources.settings()
viewer = session_viewer()


def _source_uri() -> str:
    kind = st.radio("Source", SOURCES, horizontal=True, key="live_source")
    if kind == "Jetson stream (RTP)":
        port_column, codec_column = st.columns(2)
        port = port_column.selectbox("RTP port", settings.rtp_ports, key="live_rtp_port",
                                     help="the UDP ports this server may bind (EDS_RTP_PORTS)")
        codec = codec_column.selectbox("Codec", ["h265", "h264"], key="live_rtp_codec")
        return rtp_uri(port, codec, settings.rtp_ports)
    if kind == "Video file":
        path = st.text_input("Video file (under the data root)", key="live_file").strip()
        if not path:
            st.info("Enter the path of a video file.")
            st.stop()
        return f"{settings.confine(path)}?loop=1"
    return "demo:"


def _detector_spec() -> DetectorSpec:
    models = find_models(settings)
    names = [model.name for model in models]
    backends = available_backends()
    model_column, backend_column = st.columns(2)
    model = models[names.index(model_column.selectbox("Model", names, key="live_model"))]
    default_backend = backends.index("onnxruntime") if "onnxruntime" in backends else 0
    backend = backend_column.selectbox("Backend", backends, index=default_backend, key="live_backend")
    # One ONNX Runtime thread: the pipeline shares the CPU with decoding and each viewer's encoder, and a second
    # spinning intra-op thread halved throughput on 2 cores (16 vs 28 fps measured).
    threads = 1 if backend == "onnxruntime" else None
    return DetectorSpec(model.weights, model.labels, backend=backend, score_threshold=PIPELINE_MIN_SCORE,
                        threads=threads)


with st.expander("Source and model (shared by everyone watching this source)", expanded=True):
    try:
        uri = _source_uri()
        spec = _detector_spec()
        with st.spinner("Starting the stream..."):
            pipeline = viewer.watch(uri, lambda: load_detector(spec))
            if st.session_state.get("live_applied") not in (None, (uri, spec)) \
                    and st.session_state["live_applied"][0] == uri:
                pipeline.set_detector(load_detector(spec))  # this viewer picked another model: hot swap
        st.session_state["live_applied"] = (uri, spec)
    except UserError as error:
        st.error(str(error))
        st.stop()
    detector = pipeline.detector
    if detector is not None:
        st.caption(f"Pipeline model: {detector.name} ({detector.backend}, {detector.device})")

video_column, health_column = st.columns([3, 2])
with video_column:
    names = viewer.class_names()
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
    health_panel(viewer)
