"""Cached objects the pages share: the settings, the run history (the pages' one door to it, opened once per server
process) and the one live service (`core.live.service.LiveService`), which owns everything live: pipelines, the
detector pool (the process's one cache of loaded models, which the Detect page borrows from too), monitors, the
janitor and the browsers' video."""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from core.config import Settings, load_settings
from core.detect import DetectorSpec
from core.detect.service import warmed_up

if TYPE_CHECKING:
    from core.detect.pool import LentDetector
    from core.ledger import History
    from core.live.service import LiveService


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner=False)
def history() -> History:
    """The run history, the pages' one door to it: opened once per server process (schema upgraded, runs of dead
    processes marked interrupted) and shared by every session."""
    from core.ledger import History

    return History.open(settings().database_url)


def lend_detector(spec: DetectorSpec) -> LentDetector:
    """A detector of `spec` from the live service's pool, the process's one detector cache (a model the Live page
    just used is lent here too, and back); warmed up when loaded, so the timings the page shows are steady-state
    ones. Use it in a `with` block: its end hands the model back."""
    service = live()
    return service.detectors.lend(spec, lambda: warmed_up(service.load_detector(spec)))


@st.cache_resource(show_spinner=False)
def live() -> LiveService:
    """The live state of this server process, built once from the settings (imported here, not at the top: only
    the live pages need it)."""
    from core.live.service import LiveService

    return LiveService(settings())
