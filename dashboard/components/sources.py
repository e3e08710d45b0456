"""Source URIs the Live page and the wall may open, checked at the boundary and parsed there, once: RTP only on the
configured UDP ports."""
from __future__ import annotations

from collections.abc import Collection

from core.errors import UserError
from core.stream.sources import SourceSpec, parse_source_uri


def checked_stream_source(uri: str, allowed_ports: Collection[int]) -> SourceSpec:
    """The parsed `uri`, which travels to the pipeline; a UserError if it does not parse, or binds a UDP port that
    is not one of `allowed_ports` (EDS_RTP_PORTS)."""
    spec = parse_source_uri(uri)
    port = spec.port
    if port is not None and port not in allowed_ports:
        ranges = f"{min(allowed_ports)}-{max(allowed_ports)}" if allowed_ports else "none"
        raise UserError(f"UDP port {port} is not one this server may bind ({ranges}; set EDS_RTP_PORTS)")
    return spec
