"""Cached objects the pages share: the settings, the run history (the pages' one door to it, opened once per server
process), the Detect page's detectors and the one live service (`core.live.service.LiveService`), which owns
everything live: pipelines, their models, monitors, the janitor and the browsers' video."""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from core.config import Settings, load_settings
from core.detect import Detector, DetectorSpec, load_detector
from core.detect.service import warmed_up

if TYPE_CHECKING:
    from core.ledger import History
    from core.live.service import LiveService


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


@st.cache_resource
def live() -> LiveService:
    """The live state of this server process, built once from the settings (imported here, not at the top: only
    the live pages need it)."""
    from core.live.service import LiveService

    return LiveService(settings())
