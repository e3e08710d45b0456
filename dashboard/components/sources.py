"""Source URIs the Live page may open, checked at the boundary: RTP only on the configured UDP ports."""
from __future__ import annotations

from collections.abc import Collection

from core.errors import UserError
from core.stream.configured import rtp_port


def checked_stream_uri(uri: str, allowed_ports: Collection[int]) -> str:
    """`uri` itself; a UserError if it does not parse, or binds a UDP port that is not one of `allowed_ports`
    (EDS_RTP_PORTS)."""
    port = rtp_port(uri)
    if port is not None and port not in allowed_ports:
        ranges = f"{min(allowed_ports)}-{max(allowed_ports)}" if allowed_ports else "none"
        raise UserError(f"UDP port {port} is not one this server may bind ({ranges}; set EDS_RTP_PORTS)")
    return uri
