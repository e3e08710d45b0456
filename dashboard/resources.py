"""The one place that creates cached heavy objects (settings, detectors, the ledger) for all pages."""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from core.config import Settings, load_settings
from core.detect import Detector, DetectorSpec, load_detector
from core.detect.service import warmed_up

if TYPE_CHECKING:
    from core.ledger import History


@st.cache_resource
def settings() -> Settings:
    return load_settings()


@st.cache_resource
def history() -> History:
    """The run history, the pages' one door to it: opened once per server process (schema upgraded, runs of dead
    processes marked interrupted) and shared by every session."""
    from core.ledger import History

    return History.open(settings().database_url)


@st.cache_resource(max_entries=4)
def detector(spec: DetectorSpec) -> Detector:
    """One detector per (model, backend, device, precision, threshold): shared by every session, warmed up once so
    the timings pages show are steady-state ones."""
    return warmed_up(load_detector(spec))
