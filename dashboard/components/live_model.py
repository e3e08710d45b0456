"""The model and backend a live pipeline detects with, as the Live page and the wall ask for them.

Every viewer of a source shares its pipeline, so this choice is shared too; the pipeline detects at
PIPELINE_MIN_SCORE so every viewer's own threshold can be applied to its detections.
"""
from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.config import Settings, parse_triton_url
from core.detect import DetectorSpec, available_backends
from core.model.catalog import models_or_untrained
from core.model.triton_repository import DEFAULT_MODEL_NAME, check_model_name

PIPELINE_MIN_SCORE = 0.1  # the shared detector keeps everything a viewer's threshold slider can ask for
BACKEND_LABELS = {"triton": "Triton server"}  # a remote server, not a runtime here: said so in the list
SHARED = "shared by everyone watching this source: changing it changes their video too"


def backend_label(backend: str) -> str:
    return BACKEND_LABELS.get(backend, backend)


def detector_spec(settings: Settings, key: str, areas: Sequence[DeltaGenerator] | None = None) -> DetectorSpec:
    """A model (from the data root's catalog, or the untrained one where there is none) and backend chosen in two select boxes keyed `{key}_model` and
    `{key}_backend` (ONNX Runtime first where it loads), drawn in `areas` (two columns of their own by default);
    the Triton backend asks for its server too, below them."""
    models = models_or_untrained(settings)
    names = [model.name for model in models]
    backends = available_backends()
    model_area, backend_area = areas or st.columns(2)
    model = models[names.index(model_area.selectbox("Model", names, key=f"{key}_model", help=SHARED))]
    default_backend = backends.index("onnxruntime") if "onnxruntime" in backends else 0
    backend = backend_area.selectbox("Backend", backends, index=default_backend, key=f"{key}_backend",
                                     format_func=backend_label, help=SHARED)
    # One ONNX Runtime thread: the pipeline shares the CPU with decoding and the video encoder, and a second
    # spinning intra-op thread halved throughput on 2 cores (16 vs 28 fps measured).
    threads = 1 if backend == "onnxruntime" else None
    server = _triton_server(settings, key) if backend == "triton" else {}
    return DetectorSpec(model.weights, model.labels, backend=backend, score_threshold=PIPELINE_MIN_SCORE,
                        threads=threads, **server)


def _triton_server(settings: Settings, key: str) -> dict[str, str]:
    """The inference server and model name for the triton backend (the labels stay the chosen model's: the
    server's class count is checked against them when the detector loads)."""
    url_column, name_column = st.columns([2, 1])
    url = url_column.text_input("Server (grpc://HOST:PORT)", settings.triton_url, key=f"{key}_triton_url",
                                help="a Triton Inference Server: `python -m core serve`, or NVIDIA's container "
                                     "serving `python -m core export-triton`'s model repository").strip()
    name = name_column.text_input("Model name", DEFAULT_MODEL_NAME, key=f"{key}_triton_model").strip()
    parse_triton_url(url)
    return {"triton_url": url, "triton_model": check_model_name(name)}
