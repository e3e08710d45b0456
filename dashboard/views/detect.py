"""Detect page: pick a model and backend, upload an image or pick a sample, see boxes and a table."""
from __future__ import annotations

import streamlit as st

from core.detect import DetectorSpec, available_backends
from core.detect.service import detect_image_bytes
from core.errors import UserError
from core.model.catalog import models_or_untrained, sample_images
from core.pictures.imageio import check_image_pixels
from dashboard import resources
from dashboard.components import inline
from dashboard.components.text import plain

st.title("Detect")
settings = resources.settings()
models = models_or_untrained(settings)
names = [m.name for m in models]

left, right = st.columns([1, 2])
with left:
    model = models[names.index(st.selectbox("Model", names, key="detect_model"))]
    if not model.trained:
        st.warning("No trained model found: this is an untrained, randomly initialised network, so its boxes are "
                   "meaningless. Train one (`python -m core train ...`) or put demo weights in assets/demo.")
    backend = st.selectbox("Backend", available_backends(), key="detect_backend")
    threshold = st.slider("Score threshold", 0.05, 0.95, 0.4, 0.05, key="detect_threshold")
    samples = sample_images()
    source = st.radio("Image", ["Sample", "Upload"] if samples else ["Upload"], horizontal=True, key="detect_source")
    if source == "Sample":
        sample = samples[[p.name for p in samples].index(st.selectbox("Sample image", [p.name for p in samples]))]
        image_name, image_bytes = sample.name, sample.read_bytes()
    else:
        upload = st.file_uploader("Image", type=["jpg", "jpeg", "png", "bmp", "webp"], key="detect_upload")
        image_name, image_bytes = (upload.name, upload.getvalue()) if upload else ("", b"")

with right:
    if not image_bytes:
        st.info("Upload an image to run the detector.")
    else:
        spec = DetectorSpec(model.weights, model.labels, backend=backend, device="auto", score_threshold=threshold)
        try:
            check_image_pixels(image_bytes, settings.max_upload_pixels, image_name)  # before anything decodes it
            with st.spinner("Detecting..."), resources.lend_detector(spec) as detector:
                result = detect_image_bytes(detector, image_bytes, image_name)
        except UserError as error:
            st.error(plain(error))
        else:
            found = len(result.records)
            inline.image(result.annotated_png, caption=f"{image_name}: {found} detection{'' if found == 1 else 's'}, "
                         f"{result.width}x{result.height}, {result.milliseconds:.0f} ms ({backend})")
            inline.download_link("Download the annotated image (PNG)", result.annotated_png,
                                 f"{image_name.rsplit('.', 1)[0]}-detections.png", "image/png")
            st.dataframe(
                [{"label": r["label"], "score": round(r["score"], 3), "x1": r["box"][0], "y1": r["box"][1],
                  "x2": r["box"][2], "y2": r["box"][3]} for r in result.records],
                width="stretch", hide_index=True, key="detections_table",
            )
