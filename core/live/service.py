"""`LiveService`: the one owner of everything live that outlives a page run, built once from the settings and
handed to whoever needs it (the dashboard keeps one per server process; a command or benchmark makes its own).

It holds the pipeline registry (one pipeline per source, capped at `Settings.max_pipelines`, opening sources under
the settings' `SourcePolicy`), the detector pool (models kept a while after a pipeline stops; the caller may hand in
the process's one pool, which the Detect page shares), the remote
detectors' shared server connections, the per-pipeline monitors, the janitor that releases the pipelines of pages
gone quiet, and the WebRTC peer server (made on first use: only pages with video need aiortc). Nothing of this is
created at import time, and nothing in it reads the environment: what the settings say is what it runs with.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from core.config import Settings
from core.detect import Detector, DetectorSpec, load_detector
from core.detect.pool import DetectorPool
from core.detect.remote import RemoteClients
from core.live.monitor import Monitors, PipelineMonitor
from core.live.pipeline import LivePipeline
from core.live.registry import PipelineRegistry
from core.live.viewer import IDLE_RELEASE_S, Janitor, Viewer
from core.stream.base import FrameSource
from core.stream.sources import SourcePolicy, SourceSpec, open_source

if TYPE_CHECKING:
    from core.live.webrtc import PeerServer


class LiveService:
    """The live state of one process (see the module docstring); thread-safe. `close()` stops it all."""

    def __init__(self, settings: Settings, *, detectors: DetectorPool | None = None) -> None:
        self.settings = settings
        self.policy = SourcePolicy.from_settings(settings)
        self.remote_clients = RemoteClients()
        self.detectors = detectors if detectors is not None else DetectorPool()
        self.registry = PipelineRegistry(self.open_source, max_pipelines=settings.max_pipelines)
        self.monitors = Monitors()
        self.janitor = Janitor()
        self._peers: PeerServer | None = None
        self._peers_lock = threading.Lock()

    def open_source(self, source: str | SourceSpec) -> FrameSource:
        """Open `source` under the settings' caps, RTP sender allow-list and operator pipelines."""
        return open_source(source, self.policy)

    def load_detector(self, spec: DetectorSpec) -> Detector:
        """A detector of `spec`; a remote backend's shares this service's connection to its server."""
        return load_detector(spec, remote_clients=self.remote_clients)

    def viewer(self, *, idle_release: float = IDLE_RELEASE_S) -> Viewer:
        """A new viewer (one per browser session and view) of this service's pipelines, released by the janitor
        when its page has not touched it for `idle_release` seconds."""
        return Viewer(self.registry, idle_release=idle_release, detectors=self.detectors, janitor=self.janitor)

    def monitor(self, pipeline: LivePipeline) -> PipelineMonitor:
        """The monitor of `pipeline` (its sparkline history and per-class counts), started on first use."""
        return self.monitors.for_pipeline(pipeline)

    def peers(self) -> PeerServer:
        """Every browser's live video: one WebRTC event loop for all peers, one encoding per pipeline for all
        viewers, with the settings' ICE servers and host addresses (made on first use)."""
        with self._peers_lock:
            if self._peers is None:
                from core.live.broadcast import Broadcasts
                from core.live.webrtc import PeerServer, ice_servers, pin_host_addresses

                pin_host_addresses(self.settings.webrtc_host_addresses)
                self._peers = PeerServer(Broadcasts(), ice=ice_servers(self.settings.ice_servers))
            return self._peers

    def close(self) -> None:
        """Close every peer, stop the janitor and every pipeline, then close the kept models and server
        connections."""
        with self._peers_lock:
            peers, self._peers = self._peers, None
        if peers is not None:
            peers.shutdown()
        self.janitor.stop()
        self.registry.stop_all()
        self.detectors.close()
        self.remote_clients.close()
