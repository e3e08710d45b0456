"""Cached objects the pages share: the settings, the run history's URL (its schema upgraded and dead runs marked
once per server process) and the Detect page's detectors. Not yet all of them: the history pages cache their database
engine in dashboard.components.history, and the Live page's detectors live in core.live's detector pool."""
from __future__ import annotations

import streamlit as st

from core.config import Settings, load_settings
from core.detect import Detector, DetectorSpec, load_detector
from core.detect.service import warmed_up


@st.cache_resource
def settings() -> Settings:
    return load_settings()


@st.cache_resource
def ledger_url() -> str:
    """The run history's URL, its schema upgraded and dead runs marked interrupted (once per server process)."""
    from core.ledger import prepare_ledger

    return prepare_ledger(settings().database_url)


@st.cache_resource(max_entries=4)
def detector(spec: DetectorSpec) -> Detector:
    """One detector per (model, backend, device, precision, threshold): shared by every session, warmed up once so
    the timings pages show are steady-state ones."""
    return warmed_up(load_detector(spec))
