"""A source URI as logs, health figures and pages may show it: the credentials of an rtsp:// camera taken out."""
from __future__ import annotations


def display_uri(uri: str) -> str:
    """`uri` with the user name and password of a `scheme://USER:PASS@host` form replaced by `***`."""
    scheme, separator, rest = uri.partition("://")
    if not separator:
        return uri
    ends = [index for index in (rest.find(mark) for mark in "/?#") if index >= 0]
    authority_end = min(ends, default=len(rest))
    authority = rest[:authority_end]
    if "@" not in authority:
        return uri
    return f"{scheme}://***@{authority.rpartition('@')[2]}{rest[authority_end:]}"
