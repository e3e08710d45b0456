"""Source URIs the Live page may open, checked at the boundary: RTP only on the configured UDP ports."""
from __future__ import annotations

from collections.abc import Collection

from core.errors import UserError

CODECS = ("h265", "h264")


def rtp_uri(port: object, codec: str, allowed_ports: Collection[int]) -> str:
    """`rtp://0.0.0.0:PORT?codec=CODEC`; a UserError unless PORT is one of `allowed_ports` (EDS_RTP_PORTS)."""
    try:
        number = int(port)  # type: ignore[call-overload]  (a widget value: int, str or anything a session sends)
    except (TypeError, ValueError):
        raise UserError(f"not a UDP port: {port!r}") from None
    if number not in allowed_ports:
        ranges = f"{min(allowed_ports)}-{max(allowed_ports)}" if allowed_ports else "none"
        raise UserError(f"UDP port {number} is not one this server may bind ({ranges}; set EDS_RTP_PORTS)")
    if codec not in CODECS:
        raise UserError(f"unknown codec {codec!r} (expected {' or '.join(CODECS)})")
    return f"rtp://0.0.0.0:{number}?codec={codec}"
