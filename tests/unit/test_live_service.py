"""LiveService: the one owner of the live state, built from the settings (no import-time settings, no module
globals): its registry's cap and source policy, its viewers sharing its registry, models and janitor, and `close()`
stopping everything it holds."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_live_viewer import BoxDetector

from core.config import load_settings
from core.errors import UserError
from core.live.service import LiveService

DEMO = "demo:?width=160&height=120&fps=30"
ROOT = Path(__file__).resolve().parents[2]


def test_the_registry_reads_its_cap_and_source_caps_from_the_settings(monkeypatch) -> None:
    monkeypatch.setenv("EDS_MAX_PIPELINES", "3")
    monkeypatch.setenv("EDS_MAX_FPS", "20")
    service = LiveService(load_settings())
    try:
        assert service.registry.max_pipelines == 3
        with pytest.raises(UserError, match=r"more than this server takes \(20; EDS_MAX_FPS\)"):
            service.registry.acquire("demo:?fps=30")  # over the settings' cap: refused before anything opens
    finally:
        service.close()


def test_importing_the_live_package_builds_no_live_state() -> None:
    """In a fresh interpreter whose settings cannot be read: importing every live module reads no settings and
    starts no thread."""
    script = ("import threading, core.config\n"
              "def refuse(*args, **kwargs):\n"
              "    raise AssertionError('settings read at import time')\n"
              "core.config.load_settings = refuse\n"
              "import core.live.service, core.live.registry, core.live.viewer, core.live.monitor, "
              "core.detect.pool, core.detect.triton_backend\n"
              "assert threading.active_count() == 1, threading.enumerate()\n"
              "assert not hasattr(core.live.registry, 'registry') and not hasattr(core.live.viewer, 'janitor')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.timeout(30)
def test_viewers_share_the_services_registry_models_and_janitor_and_close_stops_all() -> None:
    service = LiveService(load_settings())
    first, second = service.viewer(), service.viewer()
    pipeline = first.watch(DEMO, lambda: service.detectors.lend("boxes", BoxDetector))
    assert second.watch(DEMO) is pipeline and service.registry.viewers(DEMO) == 2
    assert service.janitor.watching() == 2
    assert service.monitor(pipeline) is service.monitor(pipeline)
    model = pipeline.detector.detector
    first.close()
    second.close()  # the last viewer: the pipeline stops, its model goes back to the pool
    assert not pipeline.running and service.detectors.kept() == 1 and not model.closed
    service.close()
    assert model.closed and service.detectors.kept() == 0
    assert service.janitor.stats() == {"thread_errors": 0, "restarts": 0}
